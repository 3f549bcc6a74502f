// `mokg pair distill`: the sources PAIR has finished (pair_status 'done'), of run $run_id ('' = any run), with
// the run that finished them (its configuration says which miner and which R_s). Each is a teacher example for
// LightPAIR; one with no kept triple is reported.
MATCH (s:Item) WHERE s.pair_status = 'done' AND ($run_id = '' OR s.pair_run = $run_id)
RETURN 'Item' AS type, s.asin AS id, s.pair_run AS run
UNION ALL
MATCH (s:Category) WHERE s.pair_status = 'done' AND ($run_id = '' OR s.pair_run = $run_id)
RETURN 'Category' AS type, s.path AS id, s.pair_run AS run
UNION ALL
MATCH (s:Store) WHERE s.pair_status = 'done' AND ($run_id = '' OR s.pair_run = $run_id)
RETURN 'Store' AS type, s.name AS id, s.pair_run AS run
