// Streaming: which of a batch's items PAIR can mine (they have a title, from the metadata) and has never
// mined nor planned (no pair_status yet).
UNWIND $asins AS asin
MATCH (i:Item {asin: asin})
WHERE i.title IS NOT NULL AND i.pair_status IS NULL
RETURN i.asin AS asin
