"""`chunkyard db upgrade | db check` and `chunkyard partitions report`: the database's health.

Storage is imported only when one of these commands runs, so chunking files never pays for
SQLAlchemy or a database driver.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from chunkyard.cli.common import error
from chunkyard.core.types import ChunkingError


def _database_errors(run: Any) -> Any:
    """Turn driver and migration-safety errors into one clear line naming the database."""

    def wrapped(args: argparse.Namespace) -> int:
        from sqlalchemy.exc import DBAPIError, SQLAlchemyError

        from chunkyard.settings import get_settings
        from chunkyard.storage.safety import MigrationSafetyError

        try:
            code: int = run(args)
            return code
        except (DBAPIError, OSError) as exc:
            where = _redacted(get_settings().database_url)
            reason = getattr(exc, "orig", None) or exc
            raise ChunkingError(f"cannot use the database {where}: {reason}") from exc
        except (MigrationSafetyError, SQLAlchemyError, ValueError) as exc:
            raise ChunkingError(str(exc)) from exc

    return wrapped


def _redacted(url: str | None) -> str:
    """The database URL without a password, for messages."""
    if not url:
        return "(the embedded SQLite file)"
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def add_parsers(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    db = subparsers.add_parser(
        "db", parents=parents, help="migrate the database or check it against the models",
        description="Migrate the configured database (CHUNKYARD_DATABASE_URL, default an "
        "SQLite file in the data directory) or check that the models match it.",
    )
    db_sub = db.add_subparsers(dest="db_command", metavar="{upgrade,check}", required=True)
    up = db_sub.add_parser(
        "upgrade", parents=parents, help="migrate to the newest schema (backs up first)",
        description="Migrate to the newest schema. Before a step that rewrites or drops a "
        "table holding rows, a timestamped backup is taken and row counts and a checksum of "
        "the chunk texts are compared afterwards; a mismatch rolls the step back.",
    )
    up.add_argument("--revision", default="head", help="target revision (default: head)")
    up.set_defaults(handler=_database_errors(run_db_upgrade))
    check = db_sub.add_parser(
        "check", parents=parents, help="exit non-zero when the models and schema differ",
        description="Compare the models with the migrated database (the 100 chunk partitions "
        "are verified, not reported as drift) and exit 1 on any difference.",
    )
    check.set_defaults(handler=_database_errors(run_db_check))

    parts = subparsers.add_parser(
        "partitions", parents=parents, help="rows per chunk partition and their skew",
        description="Report rows per chunk partition, the max/mean skew ratio and the hot "
        "and cold partitions.",
    )
    parts_sub = parts.add_subparsers(dest="partitions_command", metavar="{report}",
                                     required=True)
    report = parts_sub.add_parser("report", parents=parents, help="print the report")
    report.add_argument("--json", action="store_true", help="print the report as JSON")
    report.set_defaults(handler=_database_errors(run_partitions_report))


def run_db_upgrade(args: argparse.Namespace) -> int:
    from chunkyard.storage.migrate import run_upgrade

    result = run_upgrade(revision=args.revision)
    print(result.summary())
    return 0


def run_db_check(args: argparse.Namespace) -> int:
    from chunkyard.storage.migrate import run_check

    drift = run_check()
    if drift:
        for line in drift:
            print(line)
        error(f"the database schema differs from the models ({len(drift)} difference(s))")
        return 1
    print("database schema matches the models")
    return 0


def run_partitions_report(args: argparse.Namespace) -> int:
    from chunkyard.storage.partitions import format_report, run_partition_report

    sys.stdout.write(format_report(run_partition_report(), as_json=args.json) + "\n")
    return 0
