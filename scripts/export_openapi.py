"""Write the service's OpenAPI document (the UI's typed client is generated from it).

Usage: python scripts/export_openapi.py [OUT]   (default: web/openapi.json)

The document comes from `create_app().openapi()` with development settings and a placeholder
secret, so the output depends on the code alone, never on the environment it runs in.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from chunkyard.api.app import create_app
from chunkyard.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "web" / "openapi.json"


def openapi_document() -> dict[str, object]:
    # The app is only built, never started: no database is opened and nothing is written.
    logging.getLogger("chunkyard.api").setLevel(logging.ERROR)
    settings = Settings(
        _env_file=None,
        environment="development",
        secret_key="openapi-export-0123456789abcdef0123456789",
    )
    return create_app(settings).openapi()


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUT
    text = json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
