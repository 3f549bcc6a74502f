// PAIR: what the Item sources of one run cost and produced (benchmark, tests): LLM calls and tokens,
// seconds spent mining, triples written. The status is filtered after the match so that ArcadeDB's planner
// seeks the pair_run index (a run's few sources), not pair_status (every done source).
MATCH (s:Item)
WHERE s.pair_run = $run_id
WITH s WHERE s.pair_status = 'done'
RETURN count(s) AS sources, sum(s.pair_llm_calls) AS calls, sum(s.pair_llm_cached) AS cached,
       sum(s.pair_prompt_tokens) AS prompt_tokens, sum(s.pair_completion_tokens) AS completion_tokens,
       sum(s.pair_seconds) AS seconds, sum(s.pair_triples) AS triples
