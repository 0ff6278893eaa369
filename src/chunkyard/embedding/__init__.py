"""The embedding models the `semantic` strategy can use (see `core.embeddings` for the seam)."""

from chunkyard.core.embeddings import API_KEY_ENV
from chunkyard.embedding.choose import get_embedder
from chunkyard.embedding.local import LocalEmbedder, default_model_path
from chunkyard.embedding.remote import OpenAIEmbedder
from chunkyard.embedding.static import StaticEmbedder, bundled_model_path

__all__ = ["API_KEY_ENV", "LocalEmbedder", "OpenAIEmbedder", "StaticEmbedder",
           "bundled_model_path", "default_model_path", "get_embedder"]
