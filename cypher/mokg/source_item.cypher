// PAIR κ_S of an Item: its SupKG neighbourhood (store, categories, co-purchase and co-view links, review
// ratings) as columns; mokg.pair.store turns them into short facts and drops held-out links.
MATCH (s:Item {asin: $id})
OPTIONAL MATCH (s)-[:SOLD_BY]->(st:Store)
OPTIONAL MATCH (s)-[:IN_CATEGORY]->(c:Category)
RETURN elementId(s) AS node_id,
       s.title AS name,
       s.description AS description,
       collect(DISTINCT st.name) AS stores,
       collect(DISTINCT c.path) AS categories,
       [(s)-[:ALSO_BOUGHT]-(b:Item) | {asin: b.asin, title: b.title}] AS also_bought,
       [(s)-[:ALSO_VIEWED]-(v:Item) | {asin: v.asin, title: v.title}] AS also_viewed,
       [(:User)-[r:REVIEWED]->(s) | r.rating] AS ratings
