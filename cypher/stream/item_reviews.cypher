// Streaming: the reviews of items to embed inductively that the §3.4 step did not read (items past
// MOKG_SIM_MAX_ITEM_RATERS, or a batch of items only), as [user_id, polarity] lists (polarity decides LIKES or
// DISLIKES; lists, not maps: a popular item's reviews come back a quarter faster).
UNWIND $asins AS asin
MATCH (i:Item {asin: asin})
OPTIONAL MATCH (u:User)-[r:REVIEWED]->(i)
RETURN asin, collect([u.user_id, r.polarity]) AS reviews
