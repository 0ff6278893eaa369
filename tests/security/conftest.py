"""Security test fixtures: the API tests' apps (one per backend) and their factories.

The fixtures are tests/api's own (`api` runs each test on PostgreSQL with a real worker and
on embedded SQLite), loaded from its conftest so that both suites start the apps the same way.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_API_TESTS = Path(__file__).resolve().parents[1] / "api"
sys.path.insert(0, str(_API_TESTS))

_spec = importlib.util.spec_from_file_location("_api_conftest", _API_TESTS / "conftest.py")
assert _spec is not None and _spec.loader is not None
_api_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_api_conftest)

databases = _api_conftest.databases
services = _api_conftest.services
api = _api_conftest.api
sqlite_settings = _api_conftest.sqlite_settings
