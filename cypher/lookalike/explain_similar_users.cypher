// Lookalike explanation: seeds linked to each candidate by a user-user SIMILAR_TO edge (GLoM §3.4).
UNWIND $candidates AS cid
MATCH (c:User {user_id: cid})-[r:SIMILAR_TO]-(s:User)
WHERE s.user_id IN $seeds
WITH cid, s, r
ORDER BY r.sim DESC, s.user_id
RETURN cid AS user_id, collect({user_id: s.user_id, sim: r.sim})[..$per_user] AS evidence
