// PAIR: the sources of one run per status (wait_for_run polls it; pair_run is indexed per label).
MATCH (s:Item) WHERE s.pair_run = $run_id
RETURN s.pair_status AS status, count(*) AS n
UNION ALL
MATCH (s:Category) WHERE s.pair_run = $run_id
RETURN s.pair_status AS status, count(*) AS n
UNION ALL
MATCH (s:Store) WHERE s.pair_run = $run_id
RETURN s.pair_status AS status, count(*) AS n
