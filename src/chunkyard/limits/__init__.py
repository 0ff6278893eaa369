"""Per-user limits (issue 12, point 4): each refusal is a 429 with `Retry-After` and the error
body, and each limit is a setting.

- `quota.py`: what is counted in the database, inside the transaction that would exceed it
  (active operations, stored bytes), under a per-user lock so that concurrent requests
  cannot both pass: a PostgreSQL advisory lock, or SQLite's one write lock (`BEGIN
  IMMEDIATE`, which every writing request takes first). These hold across API processes.
- `rate.py`: requests per user per window (previews and compares), a sliding log in Redis
  when Redis is configured (shared by every API process), in process otherwise.
- `early.py`: an upload that is over the quota by its declared length alone is refused
  before its body is read.
- `router.py`: `GET /api/v1/limits`, the caller's limits and current use.

The preview cache's per-user byte cap lives with the cache (`chunking/cache.py`).
"""
