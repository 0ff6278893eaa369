"""Migrating the database (`chunkyard db upgrade`) and checking it (`chunkyard db check`).

Alembic does the schema changes; this module runs them one revision at a time, each step in
its own transaction under a migration lock, and wraps the steps that rewrite or drop tables
holding rows in the checks of `safety` (backup, row counts, chunk-text checksum, rollback).

`check` compares the models with the migrated database: Alembic's autogenerate diff plus the
backend checks of `dialect.schema_problems`. The 100 child partitions `chunks_p00`..
`chunks_p99` (and their indexes and constraints) are PostgreSQL's implementation of the one
`chunks` table of the models: the diff skips them (`include_object`), and `schema_problems`
verifies them instead (partitioned by LIST (partition_key), exactly keys 0..99).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import CheckConstraint, Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from chunkyard.settings import Settings, get_settings
from chunkyard.storage.dialect import dialect_for, is_partition_table
from chunkyard.storage.engine import SQLITE_WRITE_OPTION, create_engine
from chunkyard.storage.models import Base
from chunkyard.storage.safety import (
    DataLossRefused,
    MigrationSafetyError,
    Snapshot,
    backup_label,
    compare_snapshots,
    table_rows,
    take_snapshot,
)

__all__ = [
    "DataLossRefused",
    "MigrationResult",
    "MigrationSafetyError",
    "StepResult",
    "alembic_config",
    "check",
    "current_revision",
    "downgrade",
    "head_revision",
    "include_object",
    "make_revision",
    "run_check",
    "run_downgrade",
    "run_make_revision",
    "run_upgrade",
    "upgrade",
]

SCRIPT_LOCATION = "chunkyard.storage:migrations"

Direction = Literal["upgrade", "downgrade"]


@dataclass(frozen=True, slots=True)
class StepResult:
    """One applied revision step."""

    direction: Direction
    from_revision: str | None
    to_revision: str | None
    description: str
    backup: str | None = None  # where the backup taken before the step is
    checked: Snapshot | None = None  # the data verified unchanged by the step


@dataclass(frozen=True, slots=True)
class MigrationResult:
    from_revision: str | None
    to_revision: str | None
    steps: list[StepResult] = field(default_factory=list)

    def summary(self) -> str:
        """Human-readable lines about what happened, for the command line."""
        if not self.steps:
            return f"database already at revision {self.to_revision or 'base'}"
        lines = []
        for step in self.steps:
            line = (f"{step.direction} {step.from_revision or 'base'} -> "
                    f"{step.to_revision or 'base'}: {step.description}")
            if step.checked is not None:
                line += f" (verified {step.checked.total_rows} rows"
                if step.checked.chunk_text_checksum is not None:
                    line += " and the chunk-text checksum"
                line += ")"
            lines.append(line)
            if step.backup:
                lines.append(f"  backup: {step.backup}")
        return "\n".join(lines)


def alembic_config(script_location: str = SCRIPT_LOCATION) -> Config:
    """The Alembic configuration for the migrations shipped in this package."""
    config = Config()
    config.set_main_option("script_location", script_location)
    # Module names must be valid identifiers (mypy checks the package): r0003_add_x.py.
    config.set_main_option("file_template", "r%%(rev)s_%%(slug)s")
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Autogenerate filter: leave out the child partitions of `chunks` and all they hold."""
    if type_ == "table" and name and is_partition_table(name):
        return False
    table = getattr(obj, "table", None)
    table_name = getattr(table, "name", None)
    return not (isinstance(table_name, str) and is_partition_table(table_name))


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _run_alembic(
    connection: Connection, config: Config, direction: Direction, target: str
) -> None:
    config.attributes["connection"] = connection
    try:
        if direction == "upgrade":
            command.upgrade(config, target)
        else:
            command.downgrade(config, target)
    finally:
        config.attributes.pop("connection", None)


def _description(script: Script) -> str:
    doc = (script.doc or "").strip()
    return doc.splitlines()[0] if doc else script.revision


def _next_step(
    script_dir: ScriptDirectory, current: str | None, target: str | None, direction: Direction
) -> Script | None:
    """The revision whose upgrade (or downgrade) is the next step from `current` to `target`."""
    if current == target:
        return None
    if direction == "upgrade":
        path = list(script_dir.iterate_revisions(target or "base", current or "base"))
        if not path:
            return None
        return path[-1]  # iterate_revisions walks from the upper revision down
    if current is None:
        return None
    return script_dir.get_revision(current)


async def _step(
    engine: AsyncEngine,
    config: Config,
    script_dir: ScriptDirectory,
    settings: Settings,
    target: str | None,
    direction: Direction,
    allow_data_loss: bool,
) -> StepResult | None:
    async with engine.connect() as connection:
        # SQLite: BEGIN IMMEDIATE, the one writer. PostgreSQL: an advisory lock below.
        await connection.execution_options(**{SQLITE_WRITE_OPTION: True})
        async with connection.begin():
            dialect = dialect_for(connection)
            await dialect.migration_lock(connection)
            current = await connection.run_sync(_current)
            script = _next_step(script_dir, current, target, direction)
            if script is None:
                return None
            module: ModuleType = script.module
            if direction == "upgrade":
                step_to: str | None = script.revision
                rewrites: Sequence[str] = getattr(module, "rewrites_on_upgrade", ())
                loss_check = getattr(module, "upgrade_data_loss", None)
            else:
                down = script.down_revision
                if down is not None and not isinstance(down, str):
                    raise MigrationSafetyError(f"revision {script.revision} is a merge point")
                step_to = down
                rewrites = getattr(module, "rewrites_on_downgrade", ())
                loss_check = getattr(module, "downgrade_data_loss", None)
            step = f"{direction} {current or 'base'} -> {step_to or 'base'}"
            await dialect.lock_tables(connection, rewrites)

            if loss_check is not None:
                losses: list[str] = await connection.run_sync(loss_check)
                if losses and not allow_data_loss:
                    raise DataLossRefused(
                        f"{step} would lose data; nothing was changed:\n  "
                        + "\n  ".join(losses)
                        + "\nPass allow_data_loss (a backup is taken first) to go ahead."
                    )

            backup = None
            before = None
            holding = [t for t, n in (await table_rows(connection, rewrites)).items() if n]
            if holding:
                backup = await dialect.backup(
                    engine,
                    settings.data_dir.expanduser() / "backups",
                    backup_label(current, step_to),
                    holding,
                )
                before = await take_snapshot(connection, rewrites)

            await _run_step(connection, config, direction, step_to or "base")

            if before is not None:
                after = await take_snapshot(connection, rewrites)
                problems = compare_snapshots(before, after, may_drop=rewrites)
                if problems:
                    raise MigrationSafetyError(
                        f"{step} changed data it must keep, so it was rolled back and the "
                        "database is unchanged:\n  " + "\n  ".join(problems)
                        + f"\nBackup taken before the step: {backup}"
                    )
            return StepResult(
                direction=direction,
                from_revision=current,
                to_revision=step_to,
                description=_description(script),
                backup=backup,
                checked=before,
            )


async def _run_step(connection: Any, config: Config, direction: Direction, target: str) -> None:
    """Runs one Alembic step on `connection` (an AsyncConnection); a seam for tests."""
    await connection.run_sync(_run_alembic, config, direction, target)


async def _migrate(
    settings: Settings, target: str | None, direction: Direction, allow_data_loss: bool
) -> MigrationResult:
    config = alembic_config()
    script_dir = ScriptDirectory.from_config(config)
    if target in (None, "base"):
        resolved: str | None = None
    else:
        try:
            found = script_dir.get_revision(target)
        except CommandError:
            found = None
        if found is None:
            raise ValueError(f"unknown revision {target!r}")
        resolved = found.revision
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            start = await connection.run_sync(_current)
        if direction == "upgrade" and start is not None and (
            resolved is None or start not in _ancestors(script_dir, resolved)
        ):
            raise ValueError(f"revision {target} is not above the current {start}: downgrade?")
        if direction == "downgrade" and resolved is not None and (
            start is None or resolved not in _ancestors(script_dir, start)
        ):
            raise ValueError(f"revision {target} is not below the current {start or 'base'}")
        steps = []
        while True:
            step = await _step(
                engine, config, script_dir, settings, resolved, direction, allow_data_loss
            )
            if step is None:
                break
            steps.append(step)
        return MigrationResult(from_revision=start, to_revision=resolved, steps=steps)
    finally:
        await engine.dispose()


def _ancestors(script_dir: ScriptDirectory, revision: str) -> set[str]:
    return {s.revision for s in script_dir.iterate_revisions(revision, "base")}


async def upgrade(
    settings: Settings | None = None, *, revision: str = "head", allow_data_loss: bool = False
) -> MigrationResult:
    """Migrate up to `revision` (default: the newest), one checked step at a time."""
    return await _migrate(settings or get_settings(), revision, "upgrade", allow_data_loss)


async def downgrade(
    settings: Settings | None = None, *, revision: str, allow_data_loss: bool = False
) -> MigrationResult:
    """Migrate down to `revision` ("base" = empty). Refuses to lose data without the flag."""
    return await _migrate(settings or get_settings(), revision, "downgrade", allow_data_loss)


async def current_revision(settings: Settings | None = None) -> str | None:
    engine = create_engine(settings or get_settings())
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_current)
    finally:
        await engine.dispose()


def _check(connection: Connection) -> list[str]:
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "include_object": include_object,
            "target_metadata": Base.metadata,
        },
    )
    problems = []
    current = context.get_current_revision()
    head = head_revision()
    if current != head:
        problems.append(
            f"database at revision {current or 'base (empty)'}, the models are at {head}: "
            "run `chunkyard db upgrade`"
        )
    problems += [_describe(diff) for diff in compare_metadata(context, Base.metadata)]
    problems += _check_constraint_drift(connection)
    problems += dialect_for(connection).schema_problems(connection)
    return problems


def _check_constraint_drift(connection: Connection) -> list[str]:
    """CHECK constraints by name (Alembic's autogenerate does not compare them)."""
    inspector = inspect(connection)
    existing = set(inspector.get_table_names())
    problems = []
    for table in Base.metadata.sorted_tables:
        if table.name not in existing:
            continue
        in_models = {
            str(c.name) for c in table.constraints if isinstance(c, CheckConstraint) and c.name
        }
        in_database = {
            str(c["name"]) for c in inspector.get_check_constraints(table.name) if c.get("name")
        }
        problems += [
            f"check constraint {name} on {table.name}: missing from the database"
            for name in sorted(in_models - in_database)
        ]
        problems += [
            f"check constraint {name} on {table.name}: not in the models"
            for name in sorted(in_database - in_models)
        ]
    return problems


async def check(settings: Settings | None = None) -> list[str]:
    """Drift between the models and the database, one line each; empty means in sync."""
    engine = create_engine(settings or get_settings())
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_check)
    finally:
        await engine.dispose()


def _describe(diff: Any) -> str:
    """One human line for an Alembic autogenerate diff entry."""
    if isinstance(diff, list):  # column modifications come grouped
        return "; ".join(_describe(d) for d in diff)
    kind = diff[0]
    if kind in ("add_table", "remove_table"):
        where = "missing from the database" if kind == "add_table" else "not in the models"
        return f"table {diff[1].name}: {where}"
    if kind in ("add_column", "remove_column"):
        where = "missing from the database" if kind == "add_column" else "not in the models"
        return f"column {diff[2]}.{diff[3].name}: {where}"
    if kind in ("add_index", "remove_index", "add_constraint", "remove_constraint",
                "add_fk", "remove_fk"):
        obj = diff[1]
        table = getattr(getattr(obj, "table", None), "name", "?")
        where = "missing from the database" if kind.startswith("add") else "not in the models"
        what = kind.split("_", 1)[1].replace("fk", "foreign key")
        columns = ", ".join(c.name for c in getattr(obj, "columns", []))
        return f"{what} {obj.name or '(unnamed)'} on {table} ({columns}): {where}"
    if kind.startswith("modify_"):
        _, _schema, table, column, _existing, db_value, model_value = diff
        what = kind.removeprefix("modify_")
        return (f"column {table}.{column}: {what} is {db_value!r} in the database, "
                f"{model_value!r} in the models")
    return repr(diff)


async def make_revision(
    message: str,
    settings: Settings | None = None,
    *,
    autogenerate: bool = True,
    script_location: str = SCRIPT_LOCATION,
) -> str:
    """Write a new revision file (for developers); returns its path.

    With `autogenerate`, the operations come from comparing the models with the database of
    `settings`, which must be at head. Ids continue the numbering (0003, 0004, ...). Review
    the file: set `rewrites_on_upgrade`/`rewrites_on_downgrade` for steps that rewrite or drop
    tables holding rows, and `downgrade_data_loss` if the downgrade can lose data.
    """
    config = alembic_config(script_location)
    head = ScriptDirectory.from_config(config).get_current_head()
    rev_id = f"{int(head or '0') + 1:04d}"

    def _revision(connection: Connection) -> str:
        config.attributes["connection"] = connection
        script = command.revision(
            config, message=message, autogenerate=autogenerate, rev_id=rev_id
        )
        if script is None or isinstance(script, list):
            raise RuntimeError("alembic did not write exactly one revision")
        return str(script.path)

    engine = create_engine(settings or get_settings())
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_revision)
    finally:
        await engine.dispose()


# -- synchronous wrappers for the command line ------------------------------------------


def run_upgrade(
    settings: Settings | None = None, *, revision: str = "head", allow_data_loss: bool = False
) -> MigrationResult:
    return asyncio.run(upgrade(settings, revision=revision, allow_data_loss=allow_data_loss))


def run_downgrade(
    settings: Settings | None = None, *, revision: str, allow_data_loss: bool = False
) -> MigrationResult:
    return asyncio.run(downgrade(settings, revision=revision, allow_data_loss=allow_data_loss))


def run_check(settings: Settings | None = None) -> list[str]:
    return asyncio.run(check(settings))


def run_current_revision(settings: Settings | None = None) -> str | None:
    return asyncio.run(current_revision(settings))


def run_make_revision(
    message: str, settings: Settings | None = None, *, autogenerate: bool = True
) -> str:
    return asyncio.run(make_revision(message, settings, autogenerate=autogenerate))
