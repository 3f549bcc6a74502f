// SupKG category tree: one row per path prefix (root first), linked to its parent.
UNWIND $rows AS row
MERGE (c:Category {path: row.path})
SET c.name = row.name, c.depth = row.depth
WITH c, row
WHERE row.parent IS NOT NULL
MATCH (p:Category {path: row.parent})
MERGE (c)-[:SUBCATEGORY_OF]->(p)
