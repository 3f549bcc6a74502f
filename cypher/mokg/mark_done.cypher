// PAIR run state: a source finished. pair_completions counts finished runs, once per run even if two
// deliveries of one message both got this far. A finished source starts its failure count afresh.
MATCH (s) WHERE elementId(s) = $node_id
WITH s, (coalesce(s.pair_status, '') = 'done' AND coalesce(s.pair_run, '') = $run_id) AS already
SET s.pair_status = 'done', s.pair_run = $run_id, s.pair_at = $at, s.pair_done_at = $at, s.pair_error = null,
    s.pair_failures = 0, s.pair_failed_run = null,
    s.pair_completions = coalesce(s.pair_completions, 0) + CASE WHEN already THEN 0 ELSE 1 END,
    s += $summary
RETURN already
