// `mokg pair distill`: the sources PAIR has finished (pair_status 'done'), of run $run_id ('' = any run), with
// the run that finished them and its relation selection: R_F (pair_relations) and the selection prompt's id
// (null when none ran). Each is a teacher example for LightPAIR; one with no kept triple is reported.
MATCH (s:Item) WHERE s.pair_status = 'done' AND ($run_id = '' OR s.pair_run = $run_id)
RETURN 'Item' AS type, s.asin AS id, s.pair_run AS run, s.pair_relations AS relations,
       s.pair_selection_prompt AS selection_prompt, s.pair_model AS model
UNION ALL
MATCH (s:Category) WHERE s.pair_status = 'done' AND ($run_id = '' OR s.pair_run = $run_id)
RETURN 'Category' AS type, s.path AS id, s.pair_run AS run, s.pair_relations AS relations,
       s.pair_selection_prompt AS selection_prompt, s.pair_model AS model
UNION ALL
MATCH (s:Store) WHERE s.pair_status = 'done' AND ($run_id = '' OR s.pair_run = $run_id)
RETURN 'Store' AS type, s.name AS id, s.pair_run AS run, s.pair_relations AS relations,
       s.pair_selection_prompt AS selection_prompt, s.pair_model AS model
