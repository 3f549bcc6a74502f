// GLoM §3.2.1 input: each user's reviewed items with the item profile and the user's own review.
MATCH (u:User)-[r:REVIEWED]->(i:Item)
OPTIONAL MATCH (i)-[:IN_CATEGORY]->(c:Category)
RETURN u.user_id AS user_id,
       collect({asin: i.asin, title: i.title, profile: i.profile, category: c.path, rating: r.rating,
                review_title: r.title, review: r.text}) AS items
ORDER BY user_id
