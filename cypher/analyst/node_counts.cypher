// How many nodes of each label the graph holds.
MATCH (n)
RETURN labels(n)[0] AS label, count(*) AS n
ORDER BY label
