// MoKG: entity resolution looks entities up by normalised name.
CREATE INDEX entity_name IF NOT EXISTS FOR (n:Entity) ON (n.name)
