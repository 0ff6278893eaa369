"""Load, stress and soak runs of the service, from outside, as real processes.

    python bench/load/run.py load   --mode embedded|scaled [--users 100] [--minutes 5]
    python bench/load/run.py stress --mode embedded|scaled [--step 50] [--step-seconds 60]
    python bench/load/run.py soak   --mode embedded|scaled [--users 50] [--minutes 30]
    python bench/load/run.py wrk    --mode embedded|scaled [--connections 500] [--seconds 30]

`embedded` is the default install (`chunkyard serve`, SQLite, jobs in process); `scaled` is
PostgreSQL (a fresh database) + Redis + `chunkyard serve` + two `chunkyard worker` processes.
The first three drive bench/load/locustfile.py's mixed user with locust, headless, in
`--clients` worker processes (a Python load generator saturates its own core first; the client
CPU is sampled and reported); `wrk` drives the server closed-loop with the compiled `wrk` and a
Lua mix of authenticated reads and 20 KB previews, then `/healthz` alone for the same time,
and reports authenticated requests/s as a share of `/healthz`'s (the target: at least 0.2x).

Each run writes under artifacts/load/<kind>-<mode>-<time>/: locust's HTML report and CSVs,
rss.csv (API and worker RSS every 2 s), PNG plots (latency percentiles over time, throughput,
errors, RSS) and summary.txt, and prints the one-line summary.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))
from service_common import chunkyard_exe, free_port  # noqa: E402

POSTGRES_ADMIN = os.environ.get("CHUNKYARD_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("CHUNKYARD_BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
PASSWORD = "load password that is long enough"


@dataclass
class Target:
    base: str
    env: dict[str, str]
    api: psutil.Process
    workers: list[psutil.Process] = field(default_factory=list)


def _admin_sql(statement: str) -> None:
    subprocess.run(["psql", POSTGRES_ADMIN, "-qc", statement], check=True, capture_output=True)


@contextlib.contextmanager
def running(mode: str, users: int) -> Iterator[Target]:
    """The service in `mode` with `users` accounts (load0..), ready to serve."""
    with tempfile.TemporaryDirectory(prefix="chunkyard-load-") as data_dir:
        env = {**os.environ, "CHUNKYARD_DATA_DIR": data_dir, "HF_HUB_OFFLINE": "1",
               "CHUNKYARD_SECRET_KEY": secrets.token_hex(32)}
        database = None
        if mode == "scaled":
            database = f"chunkyard_load_{secrets.token_hex(4)}"
            _admin_sql(f"CREATE DATABASE {database}")
            env["CHUNKYARD_DATABASE_URL"] = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
            env["CHUNKYARD_REDIS_URL"] = REDIS_URL
        processes: list[subprocess.Popen[bytes]] = []
        try:
            subprocess.run([chunkyard_exe(), "db", "upgrade"], env=env, check=True,
                           capture_output=True)
            _make_accounts(env, users)
            port = free_port()
            log = open(Path(data_dir) / "serve.log", "wb")  # noqa: SIM115 (kept open while running)
            processes.append(subprocess.Popen(
                [chunkyard_exe(), "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=env, stdout=log, stderr=subprocess.STDOUT))
            if mode == "scaled":
                for _ in range(2):
                    processes.append(subprocess.Popen(
                        [chunkyard_exe(), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT))
            base = f"http://127.0.0.1:{port}"
            _wait_ready(base, processes[0])
            yield Target(base, env, psutil.Process(processes[0].pid),
                         [psutil.Process(p.pid) for p in processes[1:]])
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
            if database:
                with contextlib.suppress(subprocess.CalledProcessError):
                    _admin_sql(f"DROP DATABASE {database} WITH (FORCE)")


def _make_accounts(env: dict[str, str], users: int) -> None:
    """`users` accounts in one process (one `chunkyard users create` each would take minutes)."""
    script = (
        "import sys; from chunkyard.auth.service import cli_create_user; "
        "from chunkyard.settings import Settings; s = Settings(); "
        "[cli_create_user(s, f'load{i}', sys.argv[2]) for i in range(int(sys.argv[1]))]"
    )
    subprocess.run([sys.executable, "-c", script, str(users), PASSWORD], env=env, check=True)


def _wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit("the server exited before it was ready")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    sys.exit("the server was not ready within 120 s")


class RssSampler(threading.Thread):
    """RSS of the API, its children and the workers (and the load clients' CPU) every 2 s."""

    def __init__(self, target: Target, out: Path) -> None:
        super().__init__(daemon=True)
        self.target, self.out, self.stop = target, out, threading.Event()
        self.clients: list[psutil.Process] = []

    @staticmethod
    def _tree_rss(process: psutil.Process) -> float:
        total = 0
        for p in [process, *process.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        return total / 2**20

    def run(self) -> None:
        began = time.monotonic()
        with open(self.out, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["seconds", "api_mb", "api_own_mb", "workers_mb", "clients_cpu"])
            while not self.stop.wait(2.0):
                try:
                    api_own = self.target.api.memory_info().rss / 2**20
                except psutil.Error:
                    break
                cpu = 0.0
                for client in self.clients:
                    with contextlib.suppress(psutil.Error):
                        cpu += client.cpu_percent(None)
                writer.writerow([
                    round(time.monotonic() - began, 1), round(self._tree_rss(self.target.api), 1),
                    round(api_own, 1),
                    round(sum(self._tree_rss(w) for w in self.target.workers), 1), round(cpu, 1),
                ])
                handle.flush()


def run_locust(target: Target, out: Path, *, users: int, seconds: int, clients: int,
               shape: dict[str, str] | None = None) -> None:
    accounts = out / "accounts.txt"
    accounts.write_text("".join(f"load{i} {PASSWORD}\n" for i in range(users)))
    env = {**os.environ, "LOAD_USERS_FILE": str(accounts), **(shape or {})}
    common = ["-f", str(HERE / "locustfile.py"), "--host", target.base]
    master = subprocess.Popen(
        [sys.executable, "-m", "locust", *common, "--headless", "--master",
         "--expect-workers", str(clients), "-u", str(users), "-r", str(max(1, users // 20)),
         "-t", f"{seconds}s", "--csv", str(out / "locust"), "--csv-full-history",
         "--html", str(out / "report.html"), "--only-summary", "--stop-timeout", "30"],
        env=env, stdout=open(out / "locust.log", "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
    workers = [subprocess.Popen(
        [sys.executable, "-m", "locust", *common, "--worker"], env=env,
        stdout=subprocess.DEVNULL, stderr=open(out / f"client{i}.log", "wb"))  # noqa: SIM115
        for i in range(clients)]
    sampler = RssSampler(target, out / "rss.csv")
    sampler.clients = [psutil.Process(p.pid) for p in [master, *workers]]
    sampler.start()
    try:
        master.wait(timeout=seconds + 300)
    finally:
        sampler.stop.set()
        for worker in workers:
            worker.terminate()
        sampler.join()


def run_wrk(target: Target, out: Path, *, connections: int, seconds: int, accounts: int) -> str:
    """Closed loop: authenticated reads and 20 KB previews spread over `accounts` accounts
    (each with its own collection, document and operation; per-user limits apply as they
    would), then /healthz alone for the same time."""
    sys.path.insert(0, str(HERE))
    from texts import text_of

    lines = []
    with httpx.Client(base_url=target.base, timeout=60) as client:
        for i in range(accounts):
            token = client.post("/api/v1/auth/login", json={
                "username": f"load{i}", "password": PASSWORD}).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            collection = client.post("/api/v1/collections", headers=headers,
                                     json={"name": "wrk"}).json()["id"]
            client.post(f"/api/v1/collections/{collection}/documents", headers=headers,
                        files={"files": ("wrk.md", text_of(40).encode(), "text/markdown")})
            operation = client.post(f"/api/v1/collections/{collection}/operations",
                                    headers=headers, json={}).json()["id"]
            lines.append(f"{token} {collection} {operation}\n")
    (out / "accounts.txt").write_text("".join(lines))
    (out / "preview.json").write_text(json.dumps({
        "text": text_of(20), "filename": "wrk.md", "strategy": "recursive",
        "params": {"chunk_size": 256}, "max_chunks": 20}))
    env = {**os.environ, "WRK_ACCOUNTS_FILE": str(out / "accounts.txt"),
           "WRK_PREVIEW_FILE": str(out / "preview.json")}
    threads = str(min(4, os.cpu_count() or 2))
    sampler = RssSampler(target, out / "rss.csv")
    sampler.start()
    try:
        mixed = subprocess.run(
            ["wrk", "-t", threads, "-c", str(connections), "-d", f"{seconds}s", "--latency",
             "--timeout", "10s", "-s", str(HERE / "wrk_mix.lua"), target.base],
            env=env, capture_output=True, text=True, check=True).stdout
        healthz = subprocess.run(
            ["wrk", "-t", threads, "-c", str(connections), "-d", f"{seconds}s", "--latency",
             "--timeout", "10s", f"{target.base}/healthz"],
            capture_output=True, text=True, check=True).stdout
    finally:
        sampler.stop.set()
        sampler.join()
    (out / "wrk_mix.txt").write_text(mixed)
    (out / "wrk_healthz.txt").write_text(healthz)
    mix_rps, health_rps = _rps(mixed), _rps(healthz)
    statuses = _statuses(mixed)
    answered = sum(statuses.values()) or 1
    ok_rps = mix_rps * sum(n for code, n in statuses.items() if 200 <= code < 300) / answered
    shown = " ".join(f"{code}={n}" for code, n in sorted(statuses.items()))
    return (f"wrk {connections} connections, {accounts} accounts: mix {mix_rps:.0f} req/s "
            f"(statuses {shown}; p50 {_pct(mixed, '50%')}, p99 {_pct(mixed, '99%')}, "
            f"{_errors(mixed)}), of them 2xx {ok_rps:.0f} req/s; "
            f"/healthz {health_rps:.0f} req/s (p99 {_pct(healthz, '99%')}); "
            f"mix / healthz = {mix_rps / health_rps:.3f}x, 2xx / healthz = "
            f"{ok_rps / health_rps:.3f}x")


def _statuses(report: str) -> dict[int, int]:
    """wrk_mix.lua's "Statuses: 200=9000 429=300" line: responses by status code."""
    line = next((line for line in report.splitlines() if line.startswith("Statuses:")), "")
    pairs = (part.split("=") for part in line.split()[1:])
    return {int(code): int(count) for code, count in pairs}


def _rps(report: str) -> float:
    return next(float(line.split()[-1]) for line in report.splitlines()
                if line.startswith("Requests/sec"))


def _pct(report: str, name: str) -> str:
    return next((line.split()[1] for line in report.splitlines()
                 if line.strip().startswith(name)), "?")


def _errors(report: str) -> str:
    found = [line.strip() for line in report.splitlines()
             if "Socket errors" in line or "Non-2xx" in line or "status " in line]
    return "; ".join(found) or "no socket errors, no non-2xx"


def summarize(out: Path, kind: str, mode: str) -> str:
    """Per request type: count, failures, p50/p95/p99; then plots; returns the one line."""
    rows = _rows(out / "locust_stats.csv")
    lines = [f"{'request':44s} {'count':>7s} {'fail':>5s} {'rps':>7s} {'p50':>6s} {'p95':>6s} "
             f"{'p99':>6s} {'max':>7s}"]
    total = None
    for row in rows:
        line = (f"{(row['Type'] + ' ' + row['Name'])[:44]:44s} {row['Request Count']:>7s} "
                f"{row['Failure Count']:>5s} {float(row['Requests/s']):7.1f} {row['50%']:>6s} "
                f"{row['95%']:>6s} {row['99%']:>6s} {float(row['Max Response Time']):7.0f}")
        lines.append(line)
        if row["Name"] == "Aggregated":
            total = row
    rss = _rows(out / "rss.csv")
    growth = ""
    if len(rss) > 10:
        warm = rss[len(rss) // 5]  # after warm-up: a fifth of the run in
        last = rss[-1]
        api_growth = (float(last["api_mb"]) / float(warm["api_mb"]) - 1) * 100
        growth = f", API RSS {warm['api_mb']} -> {last['api_mb']} MB ({api_growth:+.1f}%)"
        if float(warm["workers_mb"]):
            worker_growth = (float(last["workers_mb"]) / float(warm["workers_mb"]) - 1) * 100
            growth += f", workers {warm['workers_mb']} -> {last['workers_mb']} MB " \
                      f"({worker_growth:+.1f}%)"
        growth += f", clients' CPU peak {max(float(r['clients_cpu']) for r in rss):.0f}%"
    assert total is not None
    requests, failures = int(total["Request Count"]), int(total["Failure Count"])
    # Refusals with 429 (back-pressure; locustfile.py counts them as "<name> (429...)" rows).
    refused = sum(int(r["Request Count"]) for r in rows if "(429" in r["Name"])
    one_line = (f"{kind} {mode}: {requests} requests, {float(total['Requests/s']):.1f} req/s, "
                f"errors {failures} ({failures / max(1, requests) * 100:.2f}%), refused with "
                f"429 {refused} ({refused / max(1, requests) * 100:.2f}%), p50 "
                f"{total['50%']} ms, p99 {total['99%']} ms{growth}")
    (out / "summary.txt").write_text("\n".join([one_line, "", *lines]) + "\n")
    _plots(out)
    return one_line


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _plots(out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history = [r for r in _rows(out / "locust_stats_history.csv") if r["Name"] == "Aggregated"]
    if history:
        start = int(history[0]["Timestamp"])
        t = [int(r["Timestamp"]) - start for r in history]

        def series(name: str) -> list[float]:
            return [float(r[name]) if r[name] not in ("N/A", "") else float("nan")
                    for r in history]

        fig, ax = plt.subplots(figsize=(9, 4))
        for name in ("50%", "95%", "99%"):
            ax.plot(t, series(name), label=f"p{name[:-1]}")
        ax.set(xlabel="seconds", ylabel="ms", title="Latency percentiles (all requests)")
        ax.legend()
        fig.savefig(out / "latency.png", dpi=100)
        fig, ax = plt.subplots(figsize=(9, 4))
        ax.plot(t, series("Requests/s"), label="requests/s")
        ax.plot(t, series("Failures/s"), label="failures/s")
        ax.plot(t, series("User Count"), label="users")
        ax.set(xlabel="seconds", title="Throughput, errors and users")
        ax.legend()
        fig.savefig(out / "throughput.png", dpi=100)
    rss = _rows(out / "rss.csv")
    if rss:
        fig, ax = plt.subplots(figsize=(9, 4))
        seconds = [float(r["seconds"]) for r in rss]
        for name, label in (("api_mb", "API (with its children)"), ("api_own_mb", "API process"),
                            ("workers_mb", "workers")):
            ax.plot(seconds, [float(r[name]) for r in rss], label=label)
        ax.set(xlabel="seconds", ylabel="MB", title="RSS")
        ax.legend()
        fig.savefig(out / "rss.png", dpi=100)
    plt.close("all")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=["load", "stress", "soak", "wrk"])
    parser.add_argument("--mode", choices=["embedded", "scaled"], default="embedded")
    parser.add_argument("--users", type=int)
    parser.add_argument("--minutes", type=float)
    parser.add_argument("--clients", type=int, default=2, help="locust worker processes")
    parser.add_argument("--step", type=int, default=50, help="stress: users added per step")
    parser.add_argument("--step-seconds", type=int, default=60)
    parser.add_argument("--max-users", type=int, default=500)
    parser.add_argument("--connections", type=int, default=500, help="wrk")
    parser.add_argument("--seconds", type=int, default=30, help="wrk, per phase")
    args = parser.parse_args()
    if args.kind == "wrk" and not shutil.which("wrk"):
        sys.exit("wrk is not installed (Debian package wrk)")
    users = args.users or {"load": 100, "soak": 50, "stress": args.max_users, "wrk": 50}[args.kind]
    minutes = args.minutes or {"load": 5, "soak": 30, "stress": 0, "wrk": 0}[args.kind]
    out = ROOT / "artifacts" / "load" / f"{args.kind}-{args.mode}-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True)
    with running(args.mode, users) as target:
        if args.kind == "wrk":
            line = run_wrk(target, out, connections=args.connections, seconds=args.seconds,
                           accounts=users)
            (out / "summary.txt").write_text(line + "\n")
            print(line)
            return
        shape = None
        seconds = int(minutes * 60)
        if args.kind == "stress":
            steps = args.max_users // args.step
            seconds = steps * args.step_seconds
            shape = {"LOAD_STEP_USERS": str(args.step), "LOAD_STEP_SECONDS": str(args.step_seconds),
                     "LOAD_MAX_USERS": str(args.max_users)}
        run_locust(target, out, users=users, seconds=seconds, clients=args.clients, shape=shape)
    print(summarize(out, args.kind, args.mode))
    print(f"report: {out}")


if __name__ == "__main__":
    main()
