// PAIR run state: the Category sources of one run (wait_for_run polls mokg/run_counts; run_usage).
CREATE INDEX category_pair_run IF NOT EXISTS FOR (n:Category) ON (n.pair_run)
