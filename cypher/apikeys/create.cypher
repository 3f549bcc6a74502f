// API keys: a new key; only the SHA-256 of its secret is stored (mokg.apikeys).
CREATE (k:ApiKey {id: $id, hash: $hash, scopes: $scopes, name: $key_name, created_at: $created_at, revoked: false})
RETURN k.id AS id
