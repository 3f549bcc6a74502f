// Benchmark floor: the same review rows written with a bare CREATE (no MERGE, no lookups, no cleaning).
// Only bench/ingest.py runs it, on a scratch database.
UNWIND $rows AS row
CREATE (u:User {user_id: row.user_id})-[:REVIEWED {time: row.time, rating: row.rating, title: row.title,
  text: row.text, verified: row.verified, helpful_votes: row.helpful_votes}]->(i:Item {asin: row.asin})
