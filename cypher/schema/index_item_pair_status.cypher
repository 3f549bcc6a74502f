// PAIR run state: Item sources by status (`mokg pair status` lists the failed ones; the selection's
// never-expanded branch, pair_status IS NULL, cannot use an index and scans the label).
CREATE INDEX item_pair_status IF NOT EXISTS FOR (n:Item) ON (n.pair_status)
