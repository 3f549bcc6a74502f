// Lookalike, logreg: a uniform random sample of users with an embedding, the non-seeds a per-request
// classifier contrasts the seeds with (the caller drops seeds from it). `version` lets a cached sample be
// dropped when a newer model is written.
MATCH (u:User)
WHERE u.embedding IS NOT NULL
WITH u, rand() AS r
ORDER BY r
LIMIT $limit
RETURN u.user_id AS user_id, true AS found, u.embedding AS embedding, u.embedding_version AS version
