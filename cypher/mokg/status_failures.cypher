// `mokg pair status`: sources whose last attempt failed, with the error, the deliveries of that run and
// the runs that failed them since they last finished.
MATCH (s:Item) WHERE s.pair_status = 'failed'
RETURN 'Item' AS type, s.asin AS id, s.pair_run AS run, s.pair_attempts AS attempts,
       s.pair_failures AS failures, s.pair_at AS at, s.pair_error AS error
UNION ALL
MATCH (s:Category) WHERE s.pair_status = 'failed'
RETURN 'Category' AS type, s.path AS id, s.pair_run AS run, s.pair_attempts AS attempts,
       s.pair_failures AS failures, s.pair_at AS at, s.pair_error AS error
UNION ALL
MATCH (s:Store) WHERE s.pair_status = 'failed'
RETURN 'Store' AS type, s.name AS id, s.pair_run AS run, s.pair_attempts AS attempts,
       s.pair_failures AS failures, s.pair_at AS at, s.pair_error AS error
