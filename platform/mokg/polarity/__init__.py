"""GLoM §3.3–3.4: review sentiment, user–item polarity and user–user similarity edges."""

from mokg.polarity.polarity import PolarityResult, compute_polarity, item_mean_sentiment, normalise_rating
from mokg.polarity.sentiment import SentimentScorer, TransformersScorer, VaderScorer, make_scorer, score_texts
from mokg.polarity.similarity import SimilarityEdges, candidate_pairs, similarity_edges, user_similarity

__all__ = [
    "PolarityResult",
    "SentimentScorer",
    "SimilarityEdges",
    "TransformersScorer",
    "VaderScorer",
    "candidate_pairs",
    "compute_polarity",
    "item_mean_sentiment",
    "make_scorer",
    "normalise_rating",
    "score_texts",
    "similarity_edges",
    "user_similarity",
]
