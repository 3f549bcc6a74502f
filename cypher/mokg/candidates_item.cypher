// PAIR: Item sources that need mining — never expanded, failed by fewer than $max_failures runs since they
// last finished (pair_failures: mark_pending keeps it), done before the re-mining cut-off, or
// pending/running since before the stale cut-off (their message was lost).
// ISO-8601 UTC strings compare in time order; '' as a cut-off matches nothing.
// Most-reviewed first: their triples reach the most users.
MATCH (s:Item)
WHERE s.title IS NOT NULL
  AND (s.pair_status IS NULL
    OR (s.pair_status = 'failed' AND coalesce(s.pair_failures, 0) < $max_failures)
    OR (s.pair_status = 'done' AND s.pair_at < $redo_before)
    OR (s.pair_status IN ['pending', 'running'] AND s.pair_at < $stale_before))
WITH s, COUNT { (s)<-[:REVIEWED]-() } AS reviews
RETURN elementId(s) AS node_id, s.asin AS id, reviews
ORDER BY reviews DESC, id
LIMIT $limit
