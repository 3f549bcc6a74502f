// MoKG: an Entity is keyed by type + normalised name (see mokg.pair.resolution).
CREATE CONSTRAINT entity_key IF NOT EXISTS FOR (n:Entity) REQUIRE n.key IS UNIQUE
