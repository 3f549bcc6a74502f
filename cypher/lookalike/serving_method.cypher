// Lookalike: the scoring method `mokg train --choose-method` recorded for a model version (no row: none).
MATCH (m:Model {version: $version})
RETURN m.serving_method AS method, m.method_detail AS detail, m.method_chosen_at AS chosen_at
