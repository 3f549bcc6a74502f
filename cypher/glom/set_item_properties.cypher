// Write-back: a map of properties (embeddings, model version, time) onto items.
UNWIND $rows AS row
MATCH (i:Item {asin: row.key})
SET i += row.props
