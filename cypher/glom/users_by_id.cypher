// The users among $ids that exist (to name the missing ones when a SIMILAR_TO batch was not fully written).
UNWIND $ids AS id
MATCH (u:User {user_id: id})
RETURN u.user_id AS user_id
