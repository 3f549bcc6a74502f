// SupKG: a Store (brand / seller) is keyed by its cleaned name.
CREATE CONSTRAINT store_name IF NOT EXISTS FOR (n:Store) REQUIRE n.name IS UNIQUE
