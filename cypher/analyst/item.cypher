// GET /v1/items/<asin>: an item, its store, categories and review summary. No row when it is unknown.
MATCH (i:Item {asin: $asin})
OPTIONAL MATCH (i)-[:SOLD_BY]->(s:Store)
OPTIONAL MATCH (i)-[:IN_CATEGORY]->(c:Category)
WITH i, collect(DISTINCT s.name) AS stores, collect(DISTINCT c.path) AS categories
OPTIONAL MATCH (u:User)-[r:REVIEWED]->(i)
RETURN i.asin AS asin, i.title AS title, i.main_category AS main_category, i.price AS price,
       i.profile AS profile, i.embedding_version AS embedding_version, stores, categories,
       count(r) AS n_reviews, count(DISTINCT u) AS n_buyers, avg(r.rating) AS mean_rating
