// Polarity graph: users, items and their reviews, one batch per statement. A review is keyed by (user, item,
// time): the 2018 release repeats one review for sibling variants, and the key folds those repeats into one
// edge. $users: one row per user of the batch, with the last non-empty name the batch gives it (a name is
// never erased); $items: the batch's distinct ASINs; $rows: the reviews, one per key, each with the
// positions `u` and `i` of its user and item in $users and $items.
// Users and items are merged once per batch and reached by position, not by an index lookup per review;
// the WHERE proves each position names the right node, and `n` (the reviews written) lets the caller
// refuse a batch where it did not. A new edge is created with its properties in one write: setting them
// after a MERGE rewrote the growing record once per property (1.6x the server CPU of the bare CREATE).
// An edge already there (a re-run, or a key repeated in a later batch) gets the batch's values, as before.
UNWIND $users AS urow
MERGE (u:User {user_id: urow.user_id})
FOREACH (_ IN CASE WHEN urow.name IS NOT NULL AND coalesce(u.name <> urow.name, true) THEN [1] ELSE [] END |
  SET u.name = urow.name)
WITH collect(u) AS users
UNWIND $items AS asin
MERGE (i:Item {asin: asin})
WITH users, collect(i) AS items
UNWIND $rows AS row
WITH users[row.u] AS u, items[row.i] AS i, row
WHERE u.user_id = row.user_id AND i.asin = row.asin
OPTIONAL MATCH (u)-[old:REVIEWED {time: row.time}]->(i)
FOREACH (_ IN CASE WHEN old IS NULL THEN [1] ELSE [] END |
  CREATE (u)-[:REVIEWED {time: row.time, rating: row.rating, title: row.title, text: row.text,
    verified: row.verified, helpful_votes: row.helpful_votes}]->(i))
FOREACH (_ IN CASE WHEN old IS NOT NULL THEN [1] ELSE [] END |
  SET old += {rating: row.rating, title: row.title, text: row.text, verified: row.verified,
    helpful_votes: row.helpful_votes})
RETURN count(*) AS n
