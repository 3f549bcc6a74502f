// Lookalike explanation: MoKG entities (audiences, scenarios, ...) that PAIR linked both to an item the
// candidate reviewed and to an item a seed reviewed. Empty until PAIR has written triples.
UNWIND $candidates AS cid
MATCH (c:User {user_id: cid})-[:REVIEWED]->(:Item)-[r]->(e:Entity)<-[r2]-(:Item)<-[:REVIEWED]-(s:User)
WHERE s.user_id IN $seeds
WITH cid, e, type(r) AS relation, count(DISTINCT s) AS n_seeds
ORDER BY n_seeds DESC, e.name
RETURN cid AS user_id,
       collect({name: e.name, type: e.type, relation: relation, n_seeds: n_seeds})[..$per_user] AS evidence
