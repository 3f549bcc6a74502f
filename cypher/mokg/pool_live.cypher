// PAIR entity resolution: which linked pool nodes still exist, with what they are keyed by (a deleted
// node's element id can be reused, so the caller compares the identity, not only the existence).
UNWIND $node_ids AS node_id
MATCH (n) WHERE elementId(n) = node_id
RETURN node_id, labels(n) AS labels, n.key AS key, n.asin AS asin, n.name AS name
