// PAIR entity resolution: MoKG entities created at or after a time, of every type (a worker tops up the
// pools it holds; created_at is indexed, so this reads only the recent ones).
MATCH (e:Entity)
WHERE e.created_at >= $since
RETURN elementId(e) AS node_id, e.key AS id, e.name AS name, e.type AS type
ORDER BY id
