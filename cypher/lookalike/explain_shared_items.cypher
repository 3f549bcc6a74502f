// Lookalike explanation: items each candidate reviewed that seeds reviewed too, most shared first.
UNWIND $candidates AS cid
MATCH (c:User {user_id: cid})-[:REVIEWED]->(i:Item)<-[:REVIEWED]-(s:User)
WHERE s.user_id IN $seeds
WITH cid, i, count(DISTINCT s) AS n_seeds
ORDER BY n_seeds DESC, i.asin
RETURN cid AS user_id, collect({asin: i.asin, title: i.title, n_seeds: n_seeds})[..$per_user] AS evidence
