// GET /v1/users/<id>: the user's most recent reviews with the item title and polarity.
MATCH (:User {user_id: $user_id})-[r:REVIEWED]->(i:Item)
RETURN i.asin AS asin, i.title AS title, r.rating AS rating, r.time AS time, r.sentiment AS sentiment,
       r.polarity AS polarity, r.like AS like
ORDER BY time DESC, asin
LIMIT $limit
