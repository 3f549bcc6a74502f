// SupKG items from a metadata file; one row per item. Idempotent: MERGE on the ASIN.
UNWIND $rows AS row
MERGE (i:Item {asin: row.asin})
SET i.title = row.title,
    i.main_category = row.main_category,
    i.description = row.description,
    i.features = row.features,
    i.price = row.price,
    i.details = row.details,
    i.category_path = row.category_path,
    i.has_meta = true
