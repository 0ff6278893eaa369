"""Chunking as a service: strategies, preview, compare and recommend (routes, the work
functions, the preview cache and the process pool that runs them)."""
