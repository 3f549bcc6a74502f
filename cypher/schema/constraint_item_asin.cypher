// SupKG: an Item is keyed by its ASIN (2023: parent_asin).
CREATE CONSTRAINT item_asin IF NOT EXISTS FOR (n:Item) REQUIRE n.asin IS UNIQUE
