// GLoM §3.5 input: the SupKG triples the models learn from besides reviews and user-user similarity.
MATCH (i:Item)-[:IN_CATEGORY]->(c:Category)
RETURN i.asin AS item, 'IN_CATEGORY' AS rel, 'c:' + c.path AS target
UNION ALL
MATCH (i:Item)-[:SOLD_BY]->(s:Store)
RETURN i.asin AS item, 'SOLD_BY' AS rel, 's:' + s.name AS target
UNION ALL
MATCH (a:Item)-[:ALSO_BOUGHT]->(b:Item)
RETURN a.asin AS item, 'ALSO_BOUGHT' AS rel, 'i:' + b.asin AS target
