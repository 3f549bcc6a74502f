// Streaming §3.4: every review of the items the given users reviewed. Eq. 1 takes its means over the
// co-rated items, so these are all the reviews a similarity of a given user depends on. An item with more
// distinct raters than $max_raters (MOKG_SIM_MAX_ITEM_RATERS; 0: no bound) leaves every co-rated set, so
// its reviews are counted on the server but not read. One row per item, its reviews as [user_id, time,
// rating, polarity] lists, unordered: a row per review cost the driver about four times as long (25k reviews
// for a batch of 500 at 10k synthetic users: 0.5 s against 0.13 s).
UNWIND $ids AS id
MATCH (:User {user_id: id})-[:REVIEWED]->(i:Item)
WITH DISTINCT i
MATCH (i)<-[:REVIEWED]-(rater:User)
WITH i, count(DISTINCT rater) AS raters
WHERE $max_raters = 0 OR raters <= $max_raters
MATCH (i)<-[r:REVIEWED]-(w:User)
RETURN i.asin AS asin, collect([w.user_id, r.time, r.rating, r.polarity]) AS reviews
