"""PAIR: progressive prompting-augmented mining of marketing knowledge (MoKG) with LLMs.

Pure logic, one module per stage; graph access, workers and the LLM client live elsewhere.

* :mod:`~mokg.pair.schema` — the relation schema κ_D and candidate relation sets R_s (``relations.json``);
* :mod:`~mokg.pair.prompts` — relation selection and progressive entity augmentation prompts, answer parsing;
* :mod:`~mokg.pair.aggregation` — vote counting over samples combined with plausibility into T_F;
* :mod:`~mokg.pair.resolution` — name normalisation and linking of mined targets to existing entities;
* :mod:`~mokg.pair.scorer` — the KG-BERT-style plausibility scorer (PyTorch; imported on demand);
* :mod:`~mokg.pair.metrics` — AEE, Novelty, ILAD and the ALSO_BOUGHT recall accuracy proxy;
* :mod:`~mokg.pair.config`, :mod:`~mokg.pair.plausibility`, :mod:`~mokg.pair.miner`, :mod:`~mokg.pair.results`
  — the mining configuration, the plausibility (scorer × type fit), the miner of one source and what it yields.

:mod:`~mokg.pair.runtime` is what a worker process runs them in (graph, LLM client, pools, scorers).
"""
