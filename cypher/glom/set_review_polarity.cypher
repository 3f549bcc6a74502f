// GLoM §3.3 output: sentiment s, like (s ≥ the item's mean sentiment) and polarity p_uv on each review.
UNWIND $rows AS row
MATCH (u:User {user_id: row.user_id})-[r:REVIEWED {time: row.time}]->(i:Item {asin: row.asin})
SET r.sentiment = row.sentiment, r.like = row.like, r.polarity = row.polarity
