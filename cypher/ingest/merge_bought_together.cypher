// SupKG item-item link BOUGHT_TOGETHER from item metadata. Targets that are not items in the graph are not
// created: the returned count says how many of the listed links matched an item.
UNWIND $rows AS row
MATCH (a:Item {asin: row.src})
MATCH (b:Item {asin: row.dst})
MERGE (a)-[:BOUGHT_TOGETHER]->(b)
RETURN count(*) AS n
