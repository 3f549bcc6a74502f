// MoKG: the mined entities that link two items (both items point at them), with both relations.
// Parameters: $a and $b, two ASINs.
MATCH (a:Item {asin: $a})-[m1]->(t)<-[m2]-(b:Item {asin: $b})
WHERE m1.run_id IS NOT NULL AND m2.run_id IS NOT NULL
RETURN coalesce(t.name, t.title) AS entity, labels(t)[0] AS label, t.type AS type, type(m1) AS relation_a,
       type(m2) AS relation_b, m1.score AS score_a, m2.score AS score_b
ORDER BY entity
