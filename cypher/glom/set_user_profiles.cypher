// GLoM §3.2 output: the user profile text with its provenance.
UNWIND $rows AS row
MATCH (u:User {user_id: row.key})
SET u.profile = row.text, u.profile_model = row.model, u.profile_prompt_hash = row.prompt_hash,
    u.profile_at = row.at
