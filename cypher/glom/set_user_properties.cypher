// Write-back: a map of properties (embeddings, model version, time) onto users.
UNWIND $rows AS row
MATCH (u:User {user_id: row.key})
SET u += row.props
