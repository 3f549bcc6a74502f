// GLoM §3.2.2 input: items that have reviews, with their text attributes, category and review sample.
MATCH (i:Item)<-[r:REVIEWED]-(:User)
WITH i, collect(coalesce(r.title, '') + ': ' + coalesce(r.text, ''))[..$reviews_per_item] AS reviews
OPTIONAL MATCH (i)-[:IN_CATEGORY]->(c:Category)
OPTIONAL MATCH (i)-[:SOLD_BY]->(s:Store)
RETURN i.asin AS asin, i.title AS title, i.description AS description, i.features AS features,
       i.details AS details, c.path AS category, s.name AS store, reviews
ORDER BY asin
