// GLoM §3.4: drop a slice of the old SIMILAR_TO edges before a recomputation (called until n = 0).
MATCH (:User)-[s:SIMILAR_TO]->(:User)
WITH s LIMIT $limit
DELETE s
RETURN count(*) AS n
