// Streaming §3.4: every review of the given users and of their co-raters (users who reviewed an item they
// reviewed), the only reviews a similarity of the given users depends on. Unordered; the caller sorts.
UNWIND $ids AS id
MATCH (:User {user_id: id})-[:REVIEWED]->(:Item)<-[:REVIEWED]-(w:User)
WITH DISTINCT w
MATCH (w)-[r:REVIEWED]->(j:Item)
RETURN w.user_id AS user_id, j.asin AS asin, r.time AS time, r.rating AS rating, r.polarity AS polarity
