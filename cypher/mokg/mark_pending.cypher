// PAIR run state: sources enqueued by a run (their message is on the broker).
UNWIND $rows AS row
MATCH (s) WHERE elementId(s) = row.node_id
SET s.pair_status = 'pending', s.pair_run = $run_id, s.pair_attempts = 0, s.pair_at = $at,
    s.pair_enqueued_at = $at, s.pair_error = null
RETURN count(s) AS n
