// `mokg pair eval`: campaign/seed items — a title, at least one ALSO_BOUGHT link (the accuracy proxy) and
// at least $min_reviews reviewers (the held-out buyers of the audience-coverage analog).
MATCH (i:Item)
WHERE i.title IS NOT NULL AND size([(i)-[:ALSO_BOUGHT]-(:Item) | 1]) > 0
WITH i, size([(u:User)-[:REVIEWED]->(i) | u]) AS reviewers
WHERE reviewers >= $min_reviews
RETURN i.asin AS asin
ORDER BY asin
