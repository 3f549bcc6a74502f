// PAIR run state: a worker starts a source. Refused (claimed = 0) when the source is already done in this
// run, which makes a redelivered message (acks_late after a lost worker, a duplicate enqueue) a no-op.
MATCH (s) WHERE elementId(s) = $node_id
  AND NOT (coalesce(s.pair_status, '') = 'done' AND coalesce(s.pair_run, '') = $run_id)
WITH s, CASE WHEN coalesce(s.pair_run, '') = $run_id THEN coalesce(s.pair_attempts, 0) + 1 ELSE 1 END AS attempts
SET s.pair_status = 'running', s.pair_run = $run_id, s.pair_attempts = attempts, s.pair_at = $at,
    s.pair_started_at = $at, s.pair_worker = $worker
RETURN count(s) AS claimed
