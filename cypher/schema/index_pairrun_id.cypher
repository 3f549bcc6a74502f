// PAIR: a run record is found by its id (create_run MERGEs on it).
CREATE INDEX pairrun_id IF NOT EXISTS FOR (n:PairRun) ON (n.id)
