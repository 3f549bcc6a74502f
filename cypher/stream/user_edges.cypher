// Streaming: the current edges of users to embed inductively, as the trained model reads them: their
// reviews (with polarity, which decides LIKES or DISLIKES) and their SIMILAR_TO neighbours each way.
UNWIND $ids AS id
MATCH (u:User {user_id: id})
OPTIONAL MATCH (u)-[r:REVIEWED]->(i:Item)
WITH u, id, collect({asin: i.asin, polarity: r.polarity}) AS reviews
OPTIONAL MATCH (u)-[:SIMILAR_TO]->(a:User)
WITH u, id, reviews, collect(a.user_id) AS similar_out
OPTIONAL MATCH (b:User)-[:SIMILAR_TO]->(u)
RETURN id AS user_id, reviews, similar_out, collect(b.user_id) AS similar_in
