// GET /v1/users/<id>: users linked by SIMILAR_TO (GLoM §3.4), most similar first.
MATCH (:User {user_id: $user_id})-[s:SIMILAR_TO]-(o:User)
RETURN o.user_id AS user_id, s.sim AS sim, s.n_co_rated AS n_co_rated
ORDER BY sim DESC, user_id
LIMIT $limit
