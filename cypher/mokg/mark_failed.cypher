// PAIR run state: an attempt failed (the task may still be retried with backoff).
MATCH (s) WHERE elementId(s) = $node_id
SET s.pair_status = 'failed', s.pair_run = $run_id, s.pair_at = $at, s.pair_error = $error
RETURN count(s) AS n
