// Lookalike seeds: each requested user id with its final embedding, or found = false when no such user.
UNWIND $ids AS id
OPTIONAL MATCH (u:User {user_id: id})
RETURN id AS user_id, u IS NOT NULL AS found, u.embedding AS embedding, u.embedding_version AS version
