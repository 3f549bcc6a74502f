// Streaming §3.4: the touched users' SIMILAR_TO edges replaced by their recomputed ones, in one statement
// and so one transaction: a worker killed in between would otherwise leave them deleted and not rewritten,
// and the redelivered batch, which ranks co-raters against the stored edges, would then rank them wrong.
// $gone: {id, other: null} deletes every edge of a touched user; {id, other} the one edge between two
// untouched users that left both users' top_k. $users / $rows as in `glom/merge_similar_to` (rows may join
// two untouched users, when one enters a co-rater's top_k: those are merged, not created twice).
UNWIND $gone AS g
OPTIONAL MATCH (:User {user_id: g.id})-[s:SIMILAR_TO]-(w:User)
WHERE g.other IS NULL OR w.user_id = g.other
WITH collect(DISTINCT s) AS old
FOREACH (s IN old | DELETE s)
WITH count(*) AS _
UNWIND $users AS uid
MATCH (u:User {user_id: uid})
WITH collect(u) AS users
UNWIND $rows AS row
WITH users[row.a] AS a, users[row.b] AS b, row
WHERE a.user_id = row.src AND b.user_id = row.dst
OPTIONAL MATCH (a)-[old:SIMILAR_TO]->(b)
FOREACH (_ IN CASE WHEN old IS NULL THEN [1] ELSE [] END |
  CREATE (a)-[:SIMILAR_TO {sim: row.sim, n_co_rated: row.n}]->(b))
FOREACH (_ IN CASE WHEN old IS NOT NULL THEN [1] ELSE [] END |
  SET old.sim = row.sim, old.n_co_rated = row.n)
RETURN count(*) AS n
