// GLoM §3.4 output: a user-user similarity edge (src < dst), with the co-rated item count.
UNWIND $rows AS row
MATCH (a:User {user_id: row.src})
MATCH (b:User {user_id: row.dst})
MERGE (a)-[s:SIMILAR_TO]->(b)
SET s.sim = row.sim, s.n_co_rated = row.n
