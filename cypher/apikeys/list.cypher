// API keys: every key, newest first, without the hashes.
MATCH (k:ApiKey)
RETURN k.id AS id, k.scopes AS scopes, k.name AS name, k.created_at AS created_at, k.revoked AS revoked
ORDER BY created_at DESC, id
