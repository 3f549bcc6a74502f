// GET /v1/users/<id>: a user's profile, embedding and review summary. No row when the user is unknown.
MATCH (u:User {user_id: $user_id})
OPTIONAL MATCH (u)-[r:REVIEWED]->(:Item)
WITH u, count(r) AS n_reviews, avg(r.rating) AS mean_rating, avg(r.sentiment) AS mean_sentiment,
     avg(r.polarity) AS mean_polarity, sum(CASE WHEN r.like THEN 1 ELSE 0 END) AS n_likes,
     min(r.time) AS first_review, max(r.time) AS last_review
RETURN u.user_id AS user_id, u.name AS name, u.profile AS profile, u.embedding AS embedding,
       u.embedding_version AS embedding_version, u.embedding_at AS embedding_at, n_reviews, mean_rating,
       mean_sentiment, mean_polarity, n_likes, first_review, last_review
