// The activity index's rows (mokg.lookalike.activity_index): [unit embedding, activity, pad] per user, all of
// one norm, so the index's cosine order is the order of cosine plus the recorded activity term.
UNWIND $rows AS row
MATCH (u:User {user_id: row.key})
SET u.activity_embedding = row.vec
