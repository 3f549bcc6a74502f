// `mokg pair distill`: the kept PAIR triples (relationships with a run_id, written by merge_mined_*) of done
// sources, of run $run_id ('' = any run), with their provenance and the target as Entity key, Item ASIN or
// Store name (mokg.pair.distill turns them into LightPAIR's chat records).
MATCH (s:Item)-[m]->(t)
WHERE s.pair_status = 'done' AND m.run_id IS NOT NULL AND ($run_id = '' OR m.run_id = $run_id)
RETURN 'Item' AS type, s.asin AS id, type(m) AS relation, properties(m) AS props, labels(t) AS labels,
       t.key AS key, t.asin AS asin, t.name AS t_name, t.title AS t_title
UNION ALL
MATCH (s:Category)-[m]->(t)
WHERE s.pair_status = 'done' AND m.run_id IS NOT NULL AND ($run_id = '' OR m.run_id = $run_id)
RETURN 'Category' AS type, s.path AS id, type(m) AS relation, properties(m) AS props, labels(t) AS labels,
       t.key AS key, t.asin AS asin, t.name AS t_name, t.title AS t_title
UNION ALL
MATCH (s:Store)-[m]->(t)
WHERE s.pair_status = 'done' AND m.run_id IS NOT NULL AND ($run_id = '' OR m.run_id = $run_id)
RETURN 'Store' AS type, s.name AS id, type(m) AS relation, properties(m) AS props, labels(t) AS labels,
       t.key AS key, t.asin AS asin, t.name AS t_name, t.title AS t_title
