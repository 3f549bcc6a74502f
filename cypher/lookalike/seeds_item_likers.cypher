// Named seed query: users who liked item $asin (the polarity `like` flag, else a rating of 4 or more).
MATCH (u:User)-[r:REVIEWED]->(:Item {asin: $asin})
WHERE coalesce(r.like, r.rating >= 4)
RETURN DISTINCT u.user_id AS user_id
ORDER BY user_id
LIMIT $limit
