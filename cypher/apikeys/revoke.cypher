// API keys: mark a key revoked (kept for the audit trail); n = 0 when no key has that id.
MATCH (k:ApiKey {id: $id})
SET k.revoked = true, k.revoked_at = $at
RETURN count(k) AS n
