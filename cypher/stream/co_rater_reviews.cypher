// Streaming §3.4: every review of the items the given users reviewed. Eq. 1 takes its means over the
// co-rated items, so these are all the reviews a similarity of a given user depends on. An item with more
// distinct raters than $max_raters (MOKG_SIM_MAX_ITEM_RATERS; 0: no bound) leaves every co-rated set, so
// its reviews are counted on the server but not read. Unordered.
UNWIND $ids AS id
MATCH (:User {user_id: id})-[:REVIEWED]->(i:Item)
WITH DISTINCT i
MATCH (i)<-[:REVIEWED]-(rater:User)
WITH i, count(DISTINCT rater) AS raters
WHERE $max_raters = 0 OR raters <= $max_raters
MATCH (i)<-[r:REVIEWED]-(w:User)
RETURN w.user_id AS user_id, i.asin AS asin, r.time AS time, r.rating AS rating, r.polarity AS polarity
