"""facevault: a face-embedding store with a vector-index CLI.

Ingest a folder-per-identity dataset once per model, then evaluate, compare and search from stored vectors.
"""

__version__ = "0.1.0"
