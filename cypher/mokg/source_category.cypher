// PAIR κ_S of a Category: its path, parent, item count, example items and the stores selling in it.
MATCH (s:Category {path: $id})
OPTIONAL MATCH (s)-[:SUBCATEGORY_OF]->(p:Category)
RETURN elementId(s) AS node_id,
       s.name AS name,
       s.path AS path,
       p.name AS parent,
       [(i:Item)-[:IN_CATEGORY]->(s) | i.title] AS items,
       [(i:Item)-[:IN_CATEGORY]->(s) | [(i)-[:SOLD_BY]->(st:Store) | st.name]] AS stores
