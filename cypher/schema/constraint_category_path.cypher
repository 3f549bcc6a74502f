// SupKG: a Category is keyed by its full path in the category tree, e.g. 'Gift Cards > Restaurants'.
CREATE CONSTRAINT category_path IF NOT EXISTS FOR (n:Category) REQUIRE n.path IS UNIQUE
