"""The service's database lifecycle: the embedded SQLite default migrates itself on start.

PostgreSQL is migrated explicitly (`chunkyard db upgrade`), by whoever deploys, once for all
the processes; a SQLite file belongs to one machine, so the service (and the CLI helpers)
bring it to the newest schema themselves.
"""

from __future__ import annotations

from sqlalchemy.engine import make_url

from chunkyard.settings import Settings
from chunkyard.storage import migrate


def is_sqlite(settings: Settings) -> bool:
    return make_url(settings.resolved_database_url).get_backend_name() == "sqlite"


async def prepare_database(settings: Settings, *, auto_migrate: bool | None = None) -> None:
    """Migrate to head when `auto_migrate` (default: for SQLite only)."""
    if auto_migrate is None:
        auto_migrate = is_sqlite(settings)
    if auto_migrate:
        await migrate.upgrade(settings)
