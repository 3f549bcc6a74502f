// PAIR run state: Store sources by status (`mokg pair status` lists the failed ones; the selection's
// never-expanded branch, pair_status IS NULL, cannot use an index and scans the label).
CREATE INDEX store_pair_status IF NOT EXISTS FOR (n:Store) ON (n.pair_status)
