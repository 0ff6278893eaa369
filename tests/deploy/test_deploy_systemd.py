"""The systemd units and environment file in deploy/systemd: systemd itself accepts every unit
(`systemd-analyze verify`, Debian's systemd package), each ExecStart is a command line the
installed `chunkyard` parser takes, every unit has the hardening and limits it should, and the
example environment file is settings Chunkyard reads, agreeing with the nginx upload cap."""

from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from chunkyard.cli.main import build_parser
from chunkyard.settings import MULTIPART_FRAMING_BYTES, Settings

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
ENV_EXAMPLE = UNITS / "chunkyard.env.example"
NGINX = ROOT / "deploy" / "nginx" / "chunkyard.conf"
EXE = "/opt/chunkyard/venv/bin/chunkyard"
ENV_FILE = "/etc/chunkyard/chunkyard.env"
# The unit files, each with the instance name it is verified as, and the command it runs.
SERVICES = {
    "chunkyard-api@.service": ("8001", "serve"),
    "chunkyard-worker@.service": ("1", "worker"),
    "chunkyard-scheduler.service": (None, "scheduler"),
    "chunkyard-migrate.service": (None, "db"),
}
LONG_RUNNING = ["chunkyard-api@.service", "chunkyard-worker@.service",
                "chunkyard-scheduler.service"]
HARDENING = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes",
             "ProtectHome": "yes", "User": "chunkyard", "EnvironmentFile": ENV_FILE}
TMPFILES = UNITS / "chunkyard.tmpfiles.conf"
METRICS_DIR = "/run/chunkyard-metrics"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None,
                                       comment_prefixes=("#", ";"))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    parser.read_string((UNITS / name).read_text(encoding="utf-8"))
    return parser


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"not KEY=VALUE: {line!r}"
            values[key.strip()] = value.strip()
    return values


def exec_argv(name: str) -> list[str]:
    """The unit's ExecStart as systemd runs it: %i, and ${VAR} from its Environment=."""
    service = unit(name)["Service"]
    instance, _ = SERVICES[name]
    line = service["ExecStart"].replace("%i", instance or "")
    for assignment in [service.get("Environment", "")]:
        if assignment:
            var, _, value = assignment.partition("=")
            line = line.replace(f"${{{var}}}", value)
    assert "$" not in line and "%" not in line, line
    return shlex.split(line)


def test_systemd_analyze_verify_accepts_every_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        message = "systemd-analyze not found: scripts/deploy_tools.sh installs Debian's systemd"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    installed = str(Path(sys.executable).with_name("chunkyard"))
    env_file = tmp_path / "chunkyard.env"
    env_file.write_text(ENV_EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    paths = []
    for source in sorted(UNITS.glob("*.service")) + sorted(UNITS.glob("*.target")):
        instance = SERVICES.get(source.name, (None, ""))[0]
        name = source.name.replace("@.", f"@{instance}.") if instance else source.name
        # Only the paths differ: the executable and environment file of this machine.
        text = source.read_text(encoding="utf-8")
        assert EXE in text or source.suffix == ".target", source.name
        (tmp_path / name).write_text(
            text.replace(EXE, installed).replace(ENV_FILE, str(env_file)), encoding="utf-8")
        paths.append(str(tmp_path / name))
    assert len(paths) == len(SERVICES) + 1
    done = subprocess.run([analyze, "verify", "--man=no", *paths], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    # Warnings (an unknown key, a bad value) leave the exit code 0: none may name our units.
    ours = [line for line in done.stderr.splitlines() if "chunkyard" in line]
    assert done.returncode == 0 and not ours, done.stderr


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_exec_start_is_a_chunkyard_command_line(name: str) -> None:
    argv = exec_argv(name)
    assert argv[0] == EXE
    parser = build_parser(argv[1])
    args = parser.parse_args(argv[1:])  # a usage error exits here, failing the test
    assert args.command == SERVICES[name][1]
    assert callable(args.handler)
    if name.startswith("chunkyard-api@"):
        assert (args.host, args.port) == ("127.0.0.1", 8001)
    if name.startswith("chunkyard-worker@"):
        assert args.concurrency == 2


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_unit_is_hardened(name: str) -> None:
    service = unit(name)["Service"]
    for key, value in HARDENING.items():
        assert service.get(key) == value, (name, key)
    assert service.get("CapabilityBoundingSet") == ""
    writable = service["ReadWritePaths"].split()
    assert writable[0] == "/var/lib/chunkyard"
    # The API processes and workers may share a multiprocess metrics directory, if it exists.
    assert writable[1:] == ([f"-{METRICS_DIR}"] if name in ("chunkyard-api@.service",
                                                            "chunkyard-worker@.service") else [])
    if name in LONG_RUNNING:
        assert service["Restart"] == "on-failure"
        assert service["KillMode"] == "mixed"  # SIGTERM to the main process: a warm stop
        assert re.fullmatch(r"\d+[MG]", service["MemoryMax"]), service["MemoryMax"]
        assert unit(name)["Install"]["WantedBy"] == "chunkyard.target"


def megabytes(value: str) -> int:
    number, suffix = int(value[:-1]), value[-1]
    return number * (1024 if suffix == "G" else 1)


def test_the_memory_limits_fit_the_memory_cap() -> None:
    """MemoryMax leaves room for every capped process the unit runs at the example's cap."""
    cap = int(env_example()["CHUNKYARD_OPERATION_MEMORY_MB"])
    worker = unit("chunkyard-worker@.service")["Service"]
    concurrency = int(worker["Environment"].partition("=")[2])
    assert megabytes(worker["MemoryMax"]) >= 200 + concurrency * (100 + cap)
    api = unit("chunkyard-api@.service")["Service"]
    assert megabytes(api["MemoryMax"]) >= 300 + 4 * cap  # sized for 4 CPUs, as it says


def test_the_environment_example_is_settings_chunkyard_reads() -> None:
    values = env_example()
    settings_vars = {f"CHUNKYARD_{name.upper()}" for name in Settings.model_fields}
    unknown = {key for key in values if key.startswith("CHUNKYARD_")} - settings_vars
    assert not unknown, f"not settings: {unknown}"
    fields = {key.removeprefix("CHUNKYARD_").lower(): value for key, value in values.items()
              if key.startswith("CHUNKYARD_")}
    # Left empty on purpose: a copied file refuses to start until a secret is set.
    with pytest.raises(ValidationError, match="CHUNKYARD_SECRET_KEY"):
        Settings(_env_file=None, **fields)  # type: ignore[arg-type]
    settings = Settings(_env_file=None, **{**fields, "secret_key": "k" * 64})  # type: ignore[arg-type]
    assert settings.environment == "production"
    assert settings.database_url and settings.database_url.startswith("postgresql+asyncpg://")
    assert settings.redis_url
    # nginx's cap stays above the largest body the app takes, so the app answers every 413.
    match = re.search(r"client_max_body_size (\d+)m;", NGINX.read_text(encoding="utf-8"))
    assert match is not None
    assert int(match[1]) * 1024 * 1024 > settings.max_upload_bytes + MULTIPART_FRAMING_BYTES
    assert settings.request_body_limit == settings.max_upload_bytes + MULTIPART_FRAMING_BYTES


def test_the_tmpfiles_entry_makes_the_metrics_directory(tmp_path: Path) -> None:
    """systemd-tmpfiles creates the multiprocess metrics directory the units may write and
    the environment example names, owned by the service user (here: this one)."""
    tmpfiles = shutil.which("systemd-tmpfiles")
    if tmpfiles is None:
        message = "systemd-tmpfiles not found: scripts/deploy_tools.sh installs Debian's systemd"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    assert f"#PROMETHEUS_MULTIPROC_DIR={METRICS_DIR}" in ENV_EXAMPLE.read_text(encoding="utf-8")
    import grp
    import pwd

    me = f"{pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name}"
    text = TMPFILES.read_text(encoding="utf-8")
    assert " chunkyard chunkyard " in text
    conf = tmp_path / "chunkyard.conf"
    conf.write_text(text.replace(" chunkyard chunkyard ", f" {me} "), encoding="utf-8")
    root = tmp_path / "root"
    root.mkdir()
    done = subprocess.run([tmpfiles, "--create", f"--root={root}", str(conf)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and not done.stderr, done.stderr
    made = root / METRICS_DIR.lstrip("/")
    assert made.is_dir() and made.stat().st_mode & 0o777 == 0o750
    assert made.stat().st_uid == os.geteuid()
