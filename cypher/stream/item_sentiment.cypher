// Streaming §3.3: the sentiment total and count over the scored reviews of each item, for the like flag
// (a review's sentiment against its item's mean) of newly streamed reviews. Anchored on the item's key.
// $items: {asin, skip: [[user_id, time], ...]}, the batch's own reviews of the item, left out: they are
// scored with the batch (a redelivered batch finds them scored already, and must not count them twice).
UNWIND $items AS item
MATCH (i:Item {asin: item.asin})<-[r:REVIEWED]-(u:User)
WHERE r.sentiment IS NOT NULL AND NOT [u.user_id, r.time] IN item.skip
RETURN item.asin AS asin, sum(r.sentiment) AS total, count(r) AS n
