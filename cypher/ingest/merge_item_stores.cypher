// SupKG: the store (2023) or brand (2018) that sells an item.
UNWIND $rows AS row
MATCH (i:Item {asin: row.asin})
MERGE (s:Store {name: row.store})
MERGE (i)-[:SOLD_BY]->(s)
