// GLoM §3.3 input (and §3.5 training reviews): every review with rating, text and, once computed, polarity.
MATCH (u:User)-[r:REVIEWED]->(i:Item)
RETURN u.user_id AS user_id, i.asin AS asin, r.time AS time, r.rating AS rating, r.title AS title,
       r.text AS text, r.polarity AS polarity
ORDER BY user_id, asin, time
