// PAIR run state: the Item sources of one run (wait_for_run polls mokg/run_counts; run_usage).
CREATE INDEX item_pair_run IF NOT EXISTS FOR (n:Item) ON (n.pair_run)
