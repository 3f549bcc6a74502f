// PAIR entity resolution: SupKG stores that a mined Brand or Store target may link to.
MATCH (s:Store)
RETURN elementId(s) AS node_id, s.name AS id, s.name AS name
ORDER BY id
