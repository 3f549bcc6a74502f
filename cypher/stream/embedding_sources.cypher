// Streaming drift: users by embedding version and source (`train`: the last full training; `inductive`:
// embedded from their edges since), and those with no embedding.
MATCH (u:User)
RETURN u.embedding_version AS version, coalesce(u.embedding_source, 'train') AS source, count(u) AS n
