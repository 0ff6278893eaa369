"""`chunkyard db upgrade | db check` and `partitions report`, run as a user would."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

from sqlalchemy import text

from chunkyard.settings import Settings
from chunkyard.storage.engine import create_engine


def chunkyard(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHUNKYARD_DATABASE_URL": settings.resolved_database_url,
           "CHUNKYARD_DATA_DIR": str(settings.data_dir)}
    entry = "from chunkyard.cli.main import main; raise SystemExit(main())"
    return subprocess.run([sys.executable, "-c", entry, *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


async def _alter(settings: Settings, statement: str) -> None:
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


def test_upgrade_then_check_then_report_then_drift(fresh_settings: Settings) -> None:
    before = chunkyard(fresh_settings, "db", "check")
    assert before.returncode == 1, "an unmigrated database is drift"

    up = chunkyard(fresh_settings, "db", "upgrade")
    assert up.returncode == 0, up.stderr
    assert "0001" in up.stdout and "0002" in up.stdout
    again = chunkyard(fresh_settings, "db", "upgrade")
    assert again.returncode == 0, again.stderr

    ok = chunkyard(fresh_settings, "db", "check")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "matches" in ok.stdout

    report = chunkyard(fresh_settings, "partitions", "report", "--json")
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert len(data["partitions"]) == 100

    asyncio.run(_alter(fresh_settings, "ALTER TABLE collections ADD COLUMN surprise TEXT"))
    drift = chunkyard(fresh_settings, "db", "check")
    assert drift.returncode == 1
    assert "surprise" in drift.stdout
    assert drift.stderr.count("\n") == 1 and "Traceback" not in drift.stderr


def test_unreachable_database_is_one_line_without_the_password(fresh_settings: Settings) -> None:
    bad = Settings(database_url="postgresql+asyncpg://postgres:hunter2@127.0.0.1:1/none",
                   data_dir=fresh_settings.data_dir)
    result = chunkyard(bad, "db", "upgrade")
    assert result.returncode == 1
    assert result.stderr.startswith("chunkyard: error: cannot use the database")
    assert "hunter2" not in result.stderr and "Traceback" not in result.stderr
