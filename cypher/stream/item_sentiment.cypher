// Streaming §3.3: the sentiment total and count over the scored reviews of each item, for the like flag
// (a review's sentiment against its item's mean) of newly streamed reviews.
UNWIND $asins AS asin
MATCH (:User)-[r:REVIEWED]->(:Item {asin: asin})
WHERE r.sentiment IS NOT NULL
RETURN asin, sum(r.sentiment) AS total, count(r) AS n
