// PAIR run state: an attempt failed (the task may still be retried with backoff). pair_failures counts the
// runs that failed the source since it last finished (once per run, however many attempts): mark_pending
// leaves it, and the candidates_* statements stop re-picking a failed source once it reaches the cap.
MATCH (s) WHERE elementId(s) = $node_id
WITH s, CASE WHEN coalesce(s.pair_failed_run, '') = $run_id THEN 0 ELSE 1 END AS new_failure
SET s.pair_status = 'failed', s.pair_run = $run_id, s.pair_at = $at, s.pair_error = $error,
    s.pair_failures = coalesce(s.pair_failures, 0) + new_failure, s.pair_failed_run = $run_id
RETURN count(s) AS n
