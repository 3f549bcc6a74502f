// Named seed query: users who reviewed an item in $category (path or leaf name, subcategories included).
MATCH (u:User)-[:REVIEWED]->(:Item)-[:IN_CATEGORY]->(:Category)-[:SUBCATEGORY_OF*0..]->(c:Category)
WHERE c.path = $category OR c.name = $category
RETURN DISTINCT u.user_id AS user_id
ORDER BY user_id
LIMIT $limit
