// API keys: an ApiKey is keyed by its public id (the part of the token before the secret).
CREATE CONSTRAINT apikey_id IF NOT EXISTS FOR (n:ApiKey) REQUIRE n.id IS UNIQUE
