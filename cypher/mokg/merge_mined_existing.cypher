// PAIR output: mined triples whose target resolved to a node already in the graph (an Entity, or a SupKG
// Item or Store). Idempotent: MERGE on (source, relation type, target). One FOREACH branch per mining
// relation, as in merge_mined_new. The target must still be the node resolution linked (an element id of
// a deleted node can be reused): n < rows tells the caller that a target went stale.
MATCH (s) WHERE elementId(s) = $source
UNWIND $rows AS row
MATCH (t) WHERE elementId(t) = row.node_id
  AND ((t:Entity AND t.key = row.ref) OR (t:Item AND 'Item:' + t.asin = row.ref)
    OR (t:Store AND 'Store:' + t.name = row.ref))
FOREACH (_ IN CASE WHEN row.relation = 'TARGET_AUDIENCE' THEN [1] ELSE [] END |
  MERGE (s)-[m:TARGET_AUDIENCE]->(t) ON CREATE SET m.first_at = row.at SET m += row.props)
FOREACH (_ IN CASE WHEN row.relation = 'USAGE_SCENARIO' THEN [1] ELSE [] END |
  MERGE (s)-[m:USAGE_SCENARIO]->(t) ON CREATE SET m.first_at = row.at SET m += row.props)
FOREACH (_ IN CASE WHEN row.relation = 'COMPLEMENTARY_PRODUCT' THEN [1] ELSE [] END |
  MERGE (s)-[m:COMPLEMENTARY_PRODUCT]->(t) ON CREATE SET m.first_at = row.at SET m += row.props)
FOREACH (_ IN CASE WHEN row.relation = 'SIMILAR_PRODUCT' THEN [1] ELSE [] END |
  MERGE (s)-[m:SIMILAR_PRODUCT]->(t) ON CREATE SET m.first_at = row.at SET m += row.props)
FOREACH (_ IN CASE WHEN row.relation = 'RELATED_BRAND' THEN [1] ELSE [] END |
  MERGE (s)-[m:RELATED_BRAND]->(t) ON CREATE SET m.first_at = row.at SET m += row.props)
FOREACH (_ IN CASE WHEN row.relation = 'OCCASION' THEN [1] ELSE [] END |
  MERGE (s)-[m:OCCASION]->(t) ON CREATE SET m.first_at = row.at SET m += row.props)
FOREACH (_ IN CASE WHEN row.relation = 'GIFT_RECIPIENT' THEN [1] ELSE [] END |
  MERGE (s)-[m:GIFT_RECIPIENT]->(t) ON CREATE SET m.first_at = row.at SET m += row.props)
FOREACH (_ IN CASE WHEN row.relation = 'SIMILAR_STORE' THEN [1] ELSE [] END |
  MERGE (s)-[m:SIMILAR_STORE]->(t) ON CREATE SET m.first_at = row.at SET m += row.props)
RETURN count(*) AS n
