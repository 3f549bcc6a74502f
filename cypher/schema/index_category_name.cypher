// SupKG: categories are looked up by their leaf name as well as by path.
CREATE INDEX category_name IF NOT EXISTS FOR (n:Category) ON (n.name)
