// PAIR entity resolution: the MoKG entities of one type that a mined target may link to.
MATCH (e:Entity {type: $type})
RETURN elementId(e) AS node_id, e.key AS id, e.name AS name
ORDER BY id
