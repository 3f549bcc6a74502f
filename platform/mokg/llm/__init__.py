"""LLM access (OpenAI-compatible chat with an on-disk cache) and text embeddings."""

from mokg.llm.cache import LLMCache, stable_hash
from mokg.llm.client import (
    ChatBackend,
    ChatRequest,
    ChatResult,
    LLMClient,
    LLMError,
    LLMUnavailable,
    build_request_body,
    parse_json_reply,
)
from mokg.llm.embeddings import TextEmbedder

__all__ = [
    "ChatBackend",
    "ChatRequest",
    "ChatResult",
    "LLMCache",
    "LLMClient",
    "LLMError",
    "LLMUnavailable",
    "TextEmbedder",
    "build_request_body",
    "parse_json_reply",
    "stable_hash",
]
