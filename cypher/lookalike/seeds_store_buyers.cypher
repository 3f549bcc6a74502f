// Named seed query: users who reviewed an item sold by $store (a brand / seller name).
MATCH (u:User)-[:REVIEWED]->(:Item)-[:SOLD_BY]->(:Store {name: $store})
RETURN DISTINCT u.user_id AS user_id
ORDER BY user_id
LIMIT $limit
