// `mokg pair distill`: every PAIR run's settings, to tell the teacher's runs from LightPAIR's own (a student
// never learns from its own answers).
MATCH (r:PairRun)
RETURN r.id AS run, r.config AS config
