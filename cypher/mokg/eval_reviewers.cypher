// `mokg pair eval`: the users who reviewed each item (buyers of campaigns, members of audiences).
UNWIND $asins AS a
MATCH (u:User)-[:REVIEWED]->(i:Item {asin: a})
RETURN a AS asin, collect(DISTINCT u.user_id) AS users
