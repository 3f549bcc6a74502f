// `mokg pair eval`: the mined MoKG triples of all items (a PAIR triple carries run_id), with the target as
// Entity key, Item ASIN or Store name.
MATCH (i:Item)-[m]->(t)
WHERE m.run_id IS NOT NULL
RETURN i.asin AS asin, type(m) AS relation, labels(t)[0] AS label, t.key AS key, t.asin AS t_asin,
       t.name AS t_name
