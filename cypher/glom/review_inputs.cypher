// GLoM §3.3 input: every review with rating, text and, once computed, polarity. Unordered: at 100k users an
// ORDER BY over the texts exceeds ArcadeDB's query heap budget, so the caller sorts.
MATCH (u:User)-[r:REVIEWED]->(i:Item)
RETURN u.user_id AS user_id, i.asin AS asin, r.time AS time, r.rating AS rating, r.title AS title,
       r.text AS text, r.polarity AS polarity
