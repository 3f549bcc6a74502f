// GLoM §3.2.2 input: items that have reviews, with their text attributes, category and every review (time,
// user, text). Unordered, as the server collects them: the caller sorts and samples them, so the prompt (and
// its cached profile) is the same at every run; an ORDER BY over every review does not fit ArcadeDB's heap.
MATCH (i:Item)<-[r:REVIEWED]-(u:User)
WITH i, collect({time: r.time, user_id: u.user_id,
                 text: coalesce(r.title, '') + ': ' + coalesce(r.text, '')}) AS reviews
OPTIONAL MATCH (i)-[:IN_CATEGORY]->(c:Category)
OPTIONAL MATCH (i)-[:SOLD_BY]->(s:Store)
RETURN i.asin AS asin, i.title AS title, i.description AS description, i.features AS features,
       i.details AS details, c.path AS category, s.name AS store, reviews
ORDER BY asin
