// The categories most of a set of users reviewed items in (the page's seeds-vs-audience chart).
UNWIND $user_ids AS uid
MATCH (u:User {user_id: uid})-[:REVIEWED]->(:Item)-[:IN_CATEGORY]->(c:Category)
WITH c, count(DISTINCT u) AS users
ORDER BY users DESC, c.path
LIMIT $limit
RETURN c.path AS category, c.name AS name, users
