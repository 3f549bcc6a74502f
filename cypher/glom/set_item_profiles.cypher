// GLoM §3.2 output: the item profile text with its provenance.
UNWIND $rows AS row
MATCH (i:Item {asin: row.key})
SET i.profile = row.text, i.profile_model = row.model, i.profile_prompt_hash = row.prompt_hash,
    i.profile_at = row.at
