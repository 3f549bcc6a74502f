// MoKG: analysts filter entities by type (Audience, Scenario, ...).
CREATE INDEX entity_type IF NOT EXISTS FOR (n:Entity) ON (n.type)
