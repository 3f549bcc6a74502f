// Streaming: the current edges of items to embed inductively, as the trained model reads them: their
// reviews as [user_id, polarity] lists (polarity decides LIKES or DISLIKES; lists, not maps: a popular item's
// reviews come back a quarter faster), categories, stores and ALSO_BOUGHT each way.
UNWIND $asins AS asin
MATCH (i:Item {asin: asin})
OPTIONAL MATCH (u:User)-[r:REVIEWED]->(i)
WITH i, asin, collect([u.user_id, r.polarity]) AS reviews
OPTIONAL MATCH (i)-[:IN_CATEGORY]->(c:Category)
WITH i, asin, reviews, collect(c.path) AS categories
OPTIONAL MATCH (i)-[:SOLD_BY]->(s:Store)
WITH i, asin, reviews, categories, collect(s.name) AS stores
OPTIONAL MATCH (i)-[:ALSO_BOUGHT]->(b:Item)
WITH i, asin, reviews, categories, stores, collect(b.asin) AS bought_out
OPTIONAL MATCH (a:Item)-[:ALSO_BOUGHT]->(i)
RETURN asin, reviews, categories, stores, bought_out, collect(a.asin) AS bought_in
