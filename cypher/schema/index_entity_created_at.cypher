// MoKG: workers top up their resolution pools with the entities created since their last look.
CREATE INDEX entity_created_at IF NOT EXISTS FOR (n:Entity) ON (n.created_at)
