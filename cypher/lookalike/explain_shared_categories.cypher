// Lookalike explanation: categories of each candidate's items that seeds' items share, with how many seeds.
MATCH (s:User)-[:REVIEWED]->(:Item)-[:IN_CATEGORY]->(sc:Category)
WHERE s.user_id IN $seeds
WITH sc.path AS path, count(DISTINCT s) AS n_seeds
WITH collect({category: path, n_seeds: n_seeds}) AS seed_categories
UNWIND $candidates AS cid
MATCH (c:User {user_id: cid})-[:REVIEWED]->(:Item)-[:IN_CATEGORY]->(cc:Category)
WITH seed_categories, cid, collect(DISTINCT cc.path) AS own
RETURN cid AS user_id, [x IN seed_categories WHERE x.category IN own][..$per_user] AS evidence
