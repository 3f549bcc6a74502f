// Polarity graph: a User is keyed by the reviewer id.
CREATE CONSTRAINT user_id IF NOT EXISTS FOR (n:User) REQUIRE n.user_id IS UNIQUE
