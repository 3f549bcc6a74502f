// GET /v1/entities/<name>/relations: the MoKG entities with that name (as given or normalised) or key, and
// every mined triple ending in them (from an Item, Category or Store) with its provenance.
MATCH (e:Entity)
WHERE e.name IN $names OR e.key = $key OR e.key ENDS WITH $key_suffix
OPTIONAL MATCH (s)-[m]->(e)
WHERE m.run_id IS NOT NULL
WITH e, s, m
ORDER BY m.score DESC, m.plausibility DESC, type(m)
RETURN e.key AS key, e.name AS name, e.type AS type,
       [x IN collect({source: coalesce(s.asin, s.name, s.path), source_label: labels(s)[0], title: s.title,
                      relation: type(m), votes: m.votes, vote_share: m.vote_share, plausibility: m.plausibility,
                      score: m.score, matched_by: m.matched_by, prompt_ids: m.prompt_ids, model: m.model,
                      scorer: m.scorer, at: m.at, run_id: m.run_id})
        WHERE x.relation IS NOT NULL][..$limit] AS relations
ORDER BY key
