// `mokg pair status`: the most recent runs and their settings.
MATCH (r:PairRun)
RETURN r.id AS run, r.started_at AS started_at, r.enqueued AS enqueued, r.types AS types, r.config AS config
ORDER BY started_at DESC
LIMIT $limit
