// Streaming §3.4: the stored SIMILAR_TO edges of the given users, one row per user with its edges as
// [other user_id, sim, n_co_rated] lists; a user without edges has no row. Asked for the batch's users (whose
// edges show which co-raters may need their whole rows ranked) and for the co-raters whose top_k decides a
// pair: their edges to users the batch did not touch kept their similarity (neither's reviews changed), so
// the caller ranks the batch's users against those. (Dropping the edges to the batch's users here, with
// `NOT w.user_id IN $touched`, cost 0.07 s more a batch with 500 of them than doing it in Python.)
UNWIND $ids AS id
MATCH (u:User {user_id: id})-[s:SIMILAR_TO]-(w:User)
RETURN id AS user_id, collect([w.user_id, s.sim, s.n_co_rated]) AS edges
