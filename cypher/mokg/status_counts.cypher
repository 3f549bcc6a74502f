// `mokg pair status`: sources per type, run and status ('never' = not yet enqueued), with mined triples.
MATCH (s:Item) WHERE s.title IS NOT NULL
RETURN 'Item' AS type, s.pair_run AS run, coalesce(s.pair_status, 'never') AS status, count(*) AS n,
       sum(coalesce(s.pair_triples, 0)) AS triples, sum(coalesce(s.pair_candidates, 0)) AS candidates
UNION ALL
MATCH (s:Category)
RETURN 'Category' AS type, s.pair_run AS run, coalesce(s.pair_status, 'never') AS status, count(*) AS n,
       sum(coalesce(s.pair_triples, 0)) AS triples, sum(coalesce(s.pair_candidates, 0)) AS candidates
UNION ALL
MATCH (s:Store)
RETURN 'Store' AS type, s.pair_run AS run, coalesce(s.pair_status, 'never') AS status, count(*) AS n,
       sum(coalesce(s.pair_triples, 0)) AS triples, sum(coalesce(s.pair_candidates, 0)) AS candidates
