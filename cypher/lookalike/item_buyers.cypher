// Lookalike seeds of a campaign item: the users who reviewed (bought) it. No row when the item is unknown.
MATCH (i:Item {asin: $asin})
OPTIONAL MATCH (u:User)-[:REVIEWED]->(i)
WITH i, u
ORDER BY u.user_id
RETURN i.asin AS asin, collect(DISTINCT u.user_id)[..$limit] AS user_ids
