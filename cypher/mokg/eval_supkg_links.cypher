// `mokg pair eval`: every SupKG link of the seed items (for Novelty, the hold-out, the SupKG audience
// and the LLM judge's calibration).
UNWIND $asins AS a
MATCH (i:Item {asin: a})-[r:ALSO_BOUGHT|ALSO_VIEWED|BOUGHT_TOGETHER|SOLD_BY|IN_CATEGORY]-(x)
RETURN a AS asin, type(r) AS relation, labels(x)[0] AS label, x.asin AS x_asin, x.name AS x_name, x.path AS x_path,
       x.title AS x_title
