// PAIR output: mined triples whose target is a new (or same-keyed) MoKG Entity. Idempotent: MERGE on the
// entity key and on (source, relation type, target); provenance is overwritten by the latest mining.
// Returns each target entity as stored (the worker adds new ones to its resolution pools).
// Relationship types cannot be parameters, so each mining relation of relations.json has one FOREACH branch
// (a unit test checks that the branches and the schema agree; mokg.pair.store refuses other relations).
MATCH (s) WHERE elementId(s) = $source
UNWIND $rows AS row
MERGE (t:Entity {key: row.key})
  ON CREATE SET t.name = row.name, t.type = row.type, t.created_at = row.at, t.created_run = row.run_id
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
RETURN row.key AS key, t.name AS name, t.type AS type, elementId(t) AS node_id
