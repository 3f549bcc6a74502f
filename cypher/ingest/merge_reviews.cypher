// Polarity graph: users, items and their reviews. A review is keyed by (user, item, time): the
// 2018 release repeats one review for sibling variants, and MERGE folds those repeats into one edge.
UNWIND $rows AS row
MERGE (u:User {user_id: row.user_id})
SET u.name = coalesce(row.user_name, u.name)
MERGE (i:Item {asin: row.asin})
MERGE (u)-[r:REVIEWED {time: row.time}]->(i)
SET r.rating = row.rating,
    r.title = row.title,
    r.text = row.text,
    r.verified = row.verified,
    r.helpful_votes = row.helpful_votes
