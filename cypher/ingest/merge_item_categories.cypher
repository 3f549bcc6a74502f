// SupKG: an item belongs to the leaf of its category path.
UNWIND $rows AS row
MATCH (i:Item {asin: row.asin})
MATCH (c:Category {path: row.path})
MERGE (i)-[:IN_CATEGORY]->(c)
