// GLoM §3.4 output: user-user similarity edges (src < dst) with the co-rated item count, one batch per
// statement. $users: the batch's distinct user ids; $rows: {a, b, src, dst, sim, n}, `a` and `b` the
// positions of src and dst in $users.
// Users are matched once per batch and reached by position, not by two index lookups per edge, and a new
// edge is created with its properties in one write (as ingest/merge_reviews does); the WHERE proves each
// position names the right user, and `n` (the edges written) lets the caller refuse a batch where it did not.
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
