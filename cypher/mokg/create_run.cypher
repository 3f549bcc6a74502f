// PAIR run state: one node per run (a `mokg pair run` call or one continuous batch) with its settings.
MERGE (r:PairRun {id: $run_id})
  ON CREATE SET r.started_at = $at
SET r.config = $config, r.enqueued = coalesce(r.enqueued, 0) + $enqueued, r.types = $types
RETURN r.id AS id
