// GLoM §3.2.4 input: every generated profile, to be embedded.
MATCH (n)
WHERE (n:User OR n:Item) AND n.profile IS NOT NULL
RETURN CASE WHEN n:User THEN 'User' ELSE 'Item' END AS label, coalesce(n.user_id, n.asin) AS key, n.profile AS text
