// Streaming: the SupKG edges of items to embed inductively, as the trained model reads them: categories,
// stores and ALSO_BOUGHT each way (their reviews come from the §3.4 step's read, or `stream/item_reviews`).
UNWIND $asins AS asin
MATCH (i:Item {asin: asin})
OPTIONAL MATCH (i)-[:IN_CATEGORY]->(c:Category)
WITH i, asin, collect(c.path) AS categories
OPTIONAL MATCH (i)-[:SOLD_BY]->(s:Store)
WITH i, asin, categories, collect(s.name) AS stores
OPTIONAL MATCH (i)-[:ALSO_BOUGHT]->(b:Item)
WITH i, asin, categories, stores, collect(b.asin) AS bought_out
OPTIONAL MATCH (a:Item)-[:ALSO_BOUGHT]->(i)
RETURN asin, categories, stores, bought_out, collect(a.asin) AS bought_in
