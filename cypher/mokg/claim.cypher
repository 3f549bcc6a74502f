// PAIR run state: a worker starts a source. No row when the source is already done in this run, which makes
// a redelivered message (acks_late after a lost worker, a duplicate enqueue) a no-op. claimed = false once
// this run delivered it $max_deliveries times (a message that kills its worker would come back forever):
// the source is failed instead, counted once per run in pair_failures, and the message acknowledged.
MATCH (s) WHERE elementId(s) = $node_id
  AND NOT (coalesce(s.pair_status, '') = 'done' AND coalesce(s.pair_run, '') = $run_id)
WITH s, CASE WHEN coalesce(s.pair_run, '') = $run_id THEN coalesce(s.pair_attempts, 0) ELSE 0 END AS before
WITH s, before, before < $max_deliveries AS ok,
     CASE WHEN coalesce(s.pair_failed_run, '') = $run_id THEN 0 ELSE 1 END AS new_failure
SET s.pair_status = CASE WHEN ok THEN 'running' ELSE 'failed' END, s.pair_run = $run_id,
    s.pair_attempts = CASE WHEN ok THEN before + 1 ELSE before END, s.pair_at = $at,
    s.pair_started_at = CASE WHEN ok THEN $at ELSE s.pair_started_at END,
    s.pair_worker = CASE WHEN ok THEN $worker ELSE s.pair_worker END,
    s.pair_error = CASE WHEN ok THEN s.pair_error ELSE $gave_up END,
    s.pair_failures = coalesce(s.pair_failures, 0) + CASE WHEN ok THEN 0 ELSE new_failure END,
    s.pair_failed_run = CASE WHEN ok THEN s.pair_failed_run ELSE $run_id END
RETURN ok AS claimed, before AS deliveries
