// Lookalike search: the nearest users of each query vector (a seed, or the seeds' centroid), in one round
// trip for a batch of vectors. Filters apply after the index search, so callers over-fetch (row.k) and
// read `keep`; score is the index's (1 + cos) / 2. Filters: category interest (a review of an item in the
// category or below it, by path or leaf name) and a minimum number of reviews; null disables a filter.
// `version` (the hit's embedding version) tells a seed cache that a newer model has been written.
// $index is the embedding's index, or the activity index when the recorded activity term is served.
UNWIND $rows AS row
CALL db.index.vector.queryNodes($index, row.k, row.vec) YIELD node, score
RETURN row.i AS i, node.user_id AS user_id, score, node.embedding_version AS version,
       ($category IS NULL OR EXISTS {
          MATCH (node)-[:REVIEWED]->(:Item)-[:IN_CATEGORY]->(:Category)-[:SUBCATEGORY_OF*0..]->(c:Category)
          WHERE c.path = $category OR c.name = $category
        })
       AND ($min_reviews IS NULL OR COUNT { (node)-[:REVIEWED]->() } >= $min_reviews) AS keep
