// Streaming §3.4: drop the SIMILAR_TO edges of the given users before their recomputation.
UNWIND $ids AS id
MATCH (:User {user_id: id})-[s:SIMILAR_TO]-(:User)
WITH DISTINCT s
DELETE s
RETURN count(*) AS n
