// PAIR entity resolution: SupKG items (by title) that a mined Product target may link to.
MATCH (i:Item)
WHERE i.title IS NOT NULL
RETURN elementId(i) AS node_id, i.asin AS id, i.title AS name
ORDER BY id
