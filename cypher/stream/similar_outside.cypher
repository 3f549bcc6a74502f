// Streaming §3.4: the SIMILAR_TO edges of the given co-raters to users outside the batch ($touched), one row
// per co-rater with its edges as [other user_id, sim, n_co_rated] lists. A pair of two users the batch did not
// touch keeps its similarity (neither's reviews changed), so these edges are what a co-rater's top_k ranks the
// batch's users against. A co-rater without such edges has no row.
UNWIND $ids AS id
MATCH (u:User {user_id: id})-[s:SIMILAR_TO]-(w:User)
WHERE NOT w.user_id IN $touched
RETURN id AS user_id, collect([w.user_id, s.sim, s.n_co_rated]) AS edges
