// PAIR run state: the Store sources of one run (wait_for_run polls mokg/run_counts; run_usage).
CREATE INDEX store_pair_run IF NOT EXISTS FOR (n:Store) ON (n.pair_run)
