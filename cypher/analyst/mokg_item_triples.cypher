// MoKG: every mined triple of one item with its provenance (votes, plausibility, prompts, model, run).
// Parameter: $asin.
MATCH (i:Item {asin: $asin})-[m]->(t)
WHERE m.run_id IS NOT NULL
RETURN type(m) AS relation, coalesce(t.name, t.title) AS target, labels(t)[0] AS target_label,
       coalesce(t.key, t.asin, t.name) AS target_key, m.votes AS votes, m.vote_share AS vote_share,
       m.plausibility AS plausibility, m.score AS score, m.matched_by AS matched_by, m.prompt_ids AS prompt_ids,
       m.model AS model, m.scorer AS scorer, m.at AS at, m.run_id AS run_id
ORDER BY relation, score DESC
