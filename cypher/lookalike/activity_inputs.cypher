// The activity index's inputs (mokg.lookalike.activity_index): every user with an embedding of model
// $version, that embedding, and the number of distinct items the user reviewed (the activity term's count).
MATCH (u:User)
WHERE u.embedding IS NOT NULL AND u.embedding_version = $version
RETURN u.user_id AS user_id, u.embedding AS embedding,
       COUNT { MATCH (u)-[:REVIEWED]->(i:Item) RETURN DISTINCT i } AS items
