// `mokg pair eval`: items sold by the same store as each seed (part of the direct SupKG audience).
UNWIND $asins AS a
MATCH (i:Item {asin: a})-[:SOLD_BY]->(:Store)<-[:SOLD_BY]-(j:Item)
WHERE j.asin <> a
RETURN a AS asin, collect(DISTINCT j.asin) AS items
