// Lookalike: record the serving default scoring method of a model version (`mokg train --choose-method`),
// with how it was chosen (JSON: validation AP per method, tasks, ...).
MERGE (m:Model {version: $version})
SET m.serving_method = $method, m.method_detail = $detail, m.method_chosen_at = $at
RETURN m.version AS version
