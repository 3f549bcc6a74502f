// MoKG: the most frequent mined targets of each relation (how many sources point at them, mean score).
// A PAIR-mined relationship is typed by its relation id and carries run_id. Parameter: $limit per relation.
MATCH (s)-[m]->(t)
WHERE m.run_id IS NOT NULL
WITH type(m) AS relation, coalesce(t.name, t.title) AS target, labels(t)[0] AS target_label,
     count(DISTINCT s) AS sources, avg(m.score) AS mean_score
ORDER BY relation, sources DESC, mean_score DESC
WITH relation, collect({target: target, label: target_label, sources: sources, mean_score: mean_score}) AS ranked
RETURN relation, ranked[..$limit] AS top
ORDER BY relation
