// GLoM §3.4–3.5 input: every review's rating and polarity (no texts). Unordered; the caller sorts.
MATCH (u:User)-[r:REVIEWED]->(i:Item)
RETURN u.user_id AS user_id, i.asin AS asin, r.time AS time, r.rating AS rating, r.polarity AS polarity
