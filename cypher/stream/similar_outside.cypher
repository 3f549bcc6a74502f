// Streaming §3.4: the stored SIMILAR_TO edges of the given co-raters, one row per co-rater with its edges as
// [other user_id, sim, n_co_rated] lists. The caller keeps those to users the batch did not touch: such a pair
// keeps its similarity (neither's reviews changed), so they are what a co-rater's top_k ranks the batch's users
// against. (Filtering here, `NOT w.user_id IN $touched`, cost 0.07 s more a batch with 500 touched users.)
// A co-rater without edges has no row.
UNWIND $ids AS id
MATCH (u:User {user_id: id})-[s:SIMILAR_TO]-(w:User)
RETURN id AS user_id, collect([w.user_id, s.sim, s.n_co_rated]) AS edges
