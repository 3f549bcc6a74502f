// `mokg pair status`: mined triples and distinct targets per relation (a PAIR triple carries run_id).
MATCH ()-[m]->(t)
WHERE m.run_id IS NOT NULL
RETURN type(m) AS relation, count(m) AS triples, count(DISTINCT t) AS targets
ORDER BY relation
