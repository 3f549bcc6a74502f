// Streaming §3.3: the sentiment total and count over the scored reviews of each item, for the like flag
// (a review's sentiment against its item's mean) of newly streamed reviews. Anchored on the item's key.
UNWIND $asins AS asin
MATCH (i:Item {asin: asin})<-[r:REVIEWED]-()
WHERE r.sentiment IS NOT NULL
RETURN asin, sum(r.sentiment) AS total, count(r) AS n
