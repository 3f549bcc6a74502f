// Named seed query: users who reviewed an item that PAIR linked to the MoKG entity named $entity
// (for example the audience 'coffee lovers').
MATCH (u:User)-[:REVIEWED]->(:Item)-->(e:Entity {name: $entity})
RETURN DISTINCT u.user_id AS user_id
ORDER BY user_id
LIMIT $limit
