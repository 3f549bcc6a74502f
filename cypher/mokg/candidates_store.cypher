// PAIR: Store sources that need mining (same rules as candidates_item).
// Largest first: their triples reach the most items.
MATCH (s:Store)
WHERE s.pair_status IS NULL
  OR (s.pair_status = 'failed' AND coalesce(s.pair_failures, 0) < $max_failures)
  OR (s.pair_status = 'done' AND s.pair_at < $redo_before)
  OR (s.pair_status IN ['pending', 'running'] AND s.pair_at < $stale_before)
WITH s, COUNT { (s)<-[:SOLD_BY]-() } AS items
RETURN elementId(s) AS node_id, s.name AS id, items
ORDER BY items DESC, id
LIMIT $limit
