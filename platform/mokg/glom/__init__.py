"""GLoM (lookalike audience expansion): pre-trained model (§3.5) and graph learning model (§3.6–3.7)."""

from mokg.glom.aggregators import AGGREGATORS, Aggregator, KnowledgeQueryConv
from mokg.glom.glm import GLMResult, GraphLearningModel, glm_loss, train_glm
from mokg.glom.pretrain import PretrainedModel, PretrainResult, margin_ranking_loss, train_pretrained
from mokg.glom.triples import ENTITY_TYPES, RELATIONS, KGTriples, build_triples

__all__ = [
    "AGGREGATORS",
    "ENTITY_TYPES",
    "RELATIONS",
    "Aggregator",
    "GLMResult",
    "GraphLearningModel",
    "KGTriples",
    "KnowledgeQueryConv",
    "PretrainResult",
    "PretrainedModel",
    "build_triples",
    "glm_loss",
    "margin_ranking_loss",
    "train_glm",
    "train_pretrained",
]
