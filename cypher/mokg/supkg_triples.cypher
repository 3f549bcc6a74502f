// PAIR scorer training data: SupKG triples as text (source title, relation id, target name).
MATCH (i:Item)-[:SOLD_BY]->(s:Store)
WHERE i.title IS NOT NULL
RETURN i.title AS source, 'SOLD_BY' AS relation, s.name AS target
UNION ALL
MATCH (i:Item)-[:ALSO_BOUGHT]->(j:Item)
WHERE i.title IS NOT NULL AND j.title IS NOT NULL
RETURN i.title AS source, 'ALSO_BOUGHT' AS relation, j.title AS target
UNION ALL
MATCH (i:Item)-[:IN_CATEGORY]->(c:Category)
WHERE i.title IS NOT NULL
RETURN i.title AS source, 'IN_CATEGORY' AS relation, c.name AS target
