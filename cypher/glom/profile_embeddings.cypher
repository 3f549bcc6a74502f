// GLoM §3.2.4: the fixed-size text embedding of every generated profile.
MATCH (n)
WHERE (n:User OR n:Item) AND n.profile_embedding IS NOT NULL
RETURN CASE WHEN n:User THEN 'u:' + n.user_id ELSE 'i:' + n.asin END AS key, n.profile_embedding AS vector
