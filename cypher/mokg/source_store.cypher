// PAIR κ_S of a Store: the items it sells and their categories.
MATCH (s:Store {name: $id})
RETURN elementId(s) AS node_id,
       s.name AS name,
       [(i:Item)-[:SOLD_BY]->(s) | i.title] AS items,
       [(i:Item)-[:SOLD_BY]->(s) | [(i)-[:IN_CATEGORY]->(c:Category) | c.path]] AS categories
