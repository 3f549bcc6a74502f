// API keys: one key by its public id, for verifying a presented token.
MATCH (k:ApiKey {id: $id})
RETURN k.id AS id, k.hash AS hash, k.scopes AS scopes, k.name AS name, k.created_at AS created_at,
       k.revoked AS revoked
