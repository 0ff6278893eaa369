"""The `chunkyard` command line: end to end through the console script, and in-process."""

from __future__ import annotations

import json
import multiprocessing
import os
import pty
import select
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

import chunkyard
from chunkyard.cli.common import parse_params, parse_value
from chunkyard.cli.main import main
from chunkyard.core.registry import list_strategies
from recommendation import assert_recommends_the_best

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
BIN = Path(sys.executable).parent / "chunkyard"
EXE = str(BIN) if BIN.exists() else (shutil.which("chunkyard") or "chunkyard")

PROSE = textwrap.dedent(
    """\
    Chunking splits a document into pieces. Each piece should stand on its own, so that a
    retriever can hand it to a model without the rest of the document.

    A good chunk ends at a sentence or a paragraph. A bad one stops in the middle of a thought,
    and the reader has to guess the rest. Naïve windows do that often; structure-aware
    splitters rarely do.

    Offsets matter too: every chunk points back to its exact place in the source, so a user
    can always check what was cut and where.
    """
)
MARKDOWN = "# Guide\n\nIntro text here.\n\n## Install\n\nRun the installer. Then restart.\n"


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, *args], capture_output=True, text=True, encoding="utf-8", cwd=cwd, timeout=120
    )


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="")
    return path


def jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def prose(tmp_path: Path) -> Path:
    return write(tmp_path / "prose.txt", PROSE)


@pytest.fixture
def guide(tmp_path: Path) -> Path:
    return write(tmp_path / "guide.md", MARKDOWN)


# --------------------------------------------------------------------------- end to end


def test_console_script_jsonl_offsets_index_the_source(prose: Path, guide: Path) -> None:
    done = run_cli("chunk", str(prose), str(guide), "--param", "chunk_size=24")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    records = jsonl(done.stdout)
    sources = {str(prose): PROSE, str(guide): MARKDOWN}
    assert list(dict.fromkeys(r["source"] for r in records)) == [str(prose), str(guide)]
    for r in records:
        assert list(r) == ["index", "text", "start", "end", "tokens", "metadata", "source"]
        source = sources[str(r["source"])]
        assert r["text"] == source[r["start"]:r["end"]]
        assert 0 < r["tokens"] <= 24
        assert r["metadata"]["strategy"] == "recursive"
    per_file = [r["index"] for r in records if r["source"] == str(prose)]
    assert per_file == list(range(len(per_file))) and len(per_file) > 2


def test_console_script_unicode_corpus_file_round_trips(tmp_path: Path) -> None:
    source = CORPUS / "unicode.txt"
    done = run_cli("chunk", str(source), "--param", "chunk_size=32")
    assert done.returncode == 0, done.stderr
    text = source.read_bytes().decode("utf-8").removeprefix("\ufeff")
    records = jsonl(done.stdout)
    assert records
    for r in records:
        assert r["text"] == text[r["start"]:r["end"]]


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["chunk", "missing.txt"], 1, "missing.txt: cannot read the file"),
        (["chunk", "prose.txt", "--strategy", "nope"], 1, "unknown strategy 'nope'"),
        (["chunk", "prose.txt", "--param", "chunk_size=3"], 1, "chunk_size"),
        (["chunk", "prose.txt", "--param", "chunk_sizes=64"], 1, "chunk_sizes"),
        (["chunk", "prose.txt", "--param", "chunk_size"], 2, "must be KEY=VALUE"),
        (["chunk", "binary.bin"], 1, "unsupported file type"),
        (["chunk", "latin1.txt"], 1, "not valid UTF-8"),
        (["serve", "--host", "no-such-host.invalid"], 1, "cannot listen on no-such-host.invalid"),
    ],
)
def test_console_script_errors_are_one_line_without_traceback(
    tmp_path: Path, prose: Path, args: list[str], code: int, needle: str
) -> None:
    (tmp_path / "binary.bin").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (tmp_path / "latin1.txt").write_bytes("café au lait".encode("latin-1"))
    done = run_cli(*args, cwd=tmp_path)
    assert done.returncode == code
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("chunkyard: error: ")
    assert needle in lines[0]
    assert "Traceback" not in done.stderr


def test_console_script_debug_shows_the_traceback(tmp_path: Path) -> None:
    done = run_cli("chunk", "missing.txt", "--debug", cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert done.stderr.rstrip().splitlines()[-1].startswith("chunkyard: error: missing.txt")


def test_console_script_usage_error_exits_2(tmp_path: Path) -> None:
    done = run_cli("chunk", "x.txt", "--format", "xml", cwd=tmp_path)
    assert done.returncode == 2
    assert "invalid choice" in done.stderr
    assert "Traceback" not in done.stderr


def test_console_script_version() -> None:
    done = run_cli("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"chunkyard {chunkyard.__version__}"


# --------------------------------------------------------------------------- in-process: chunk


def test_a_bad_file_is_reported_and_the_others_still_chunk(
    tmp_path: Path, prose: Path, guide: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.txt"
    code = main(["chunk", str(prose), str(missing), str(guide)])
    out, err = capsys.readouterr()
    assert code == 1
    assert err == f"chunkyard: error: {missing}: cannot read the file (No such file or directory)\n"
    sources = [r["source"] for r in jsonl(out)]
    assert str(prose) in sources and str(guide) in sources
    assert str(missing) not in sources


def test_json_format_is_one_array(prose: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chunk", str(prose), "--format", "json", "--param", "chunk_size=32"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data, list) and len(data) > 1
    assert all(PROSE[c["start"]:c["end"]] == c["text"] for c in data)


def test_json_format_with_no_chunks_is_an_empty_array(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = write(tmp_path / "empty.txt", "   \n\n  ")
    assert main(["chunk", str(empty), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_text_format_separates_chunks_with_headers(
    guide: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chunk", str(guide), "--format", "text", "--param", "chunk_size=16"]) == 0
    out = capsys.readouterr().out
    chunks = chunkyard.chunk_text(MARKDOWN, "recursive", filename="guide.md", chunk_size=16)
    assert out.count("=== ") == len(chunks) > 1
    for c in chunks:
        assert f"=== {guide} #{c.index} [{c.start}:{c.end}] {c.tokens} tokens" in out
        assert c.text in out


def test_output_file(tmp_path: Path, prose: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out.jsonl"
    assert main(["chunk", str(prose), "-o", str(target)]) == 0
    assert capsys.readouterr().out == ""
    records = jsonl(target.read_text(encoding="utf-8"))
    assert records and records[0]["source"] == str(prose)


def test_unwritable_output_is_an_error(
    tmp_path: Path, prose: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "no" / "such" / "dir" / "out.jsonl"
    assert main(["chunk", str(prose), "-o", str(target)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("chunkyard: error: ") and "cannot write" in err


def test_params_reach_the_strategy_and_last_one_wins(
    prose: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["chunk", str(prose), "--strategy", "character", "--param", "chunk_size=500",
            "--param", "chunk_size=20", "--param", "boundary_window=0.5",
            "--param", "tokenizer=words"]
    assert main(args) == 0
    records = jsonl(capsys.readouterr().out)
    expected = chunkyard.chunk_text(PROSE, "character", chunk_size=20, boundary_window=0.5,
                                    tokenizer="words")
    assert [(r["start"], r["end"]) for r in records] == [(c.start, c.end) for c in expected]
    assert all(r["tokens"] <= 20 for r in records)


def test_param_values_are_json_when_they_parse() -> None:
    assert parse_value("256") == 256
    assert parse_value("0.5") == 0.5
    assert parse_value("true") is True
    assert parse_value("[1, 2]") == [1, 2]
    assert parse_value("cl100k") == "cl100k"
    assert parse_value("hf:/x/tokenizer.json") == "hf:/x/tokenizer.json"
    assert parse_params(["a=1", "recursive.b=x=y", "weird.key=2"]) == [
        ("", "a", 1), ("recursive", "b", "x=y"), ("", "weird.key", 2)
    ]


def test_files_after_options_are_still_files(
    prose: Path, guide: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chunk", str(prose), "--param", "chunk_size=64", str(guide)]) == 0
    sources = {r["source"] for r in jsonl(capsys.readouterr().out)}
    assert sources == {str(prose), str(guide)}


def _many_files(tmp_path: Path, count: int) -> list[str]:
    paths = []
    for i in range(count):
        body = f"File {i}. " + PROSE * (1 + i % 3)
        paths.append(str(write(tmp_path / f"doc{i:02d}.txt", body)))
    return paths


def test_jobs_keeps_input_order_and_matches_serial_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = _many_files(tmp_path, 7)
    paths.insert(3, str(tmp_path / "missing.txt"))
    serial = main(["chunk", *paths, "--param", "chunk_size=48"])
    out1, err1 = capsys.readouterr()
    parallel = main(["chunk", *paths, "--param", "chunk_size=48", "--jobs", "3"])
    out3, err3 = capsys.readouterr()
    assert serial == parallel == 1
    assert out3 == out1
    assert err3 == err1 and err1.count("\n") == 1 and "missing.txt" in err1
    order = list(dict.fromkeys(r["source"] for r in jsonl(out3)))
    assert order == [p for p in paths if not p.endswith("missing.txt")]


def test_spawned_workers_give_the_same_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = _many_files(tmp_path, 4)
    assert main(["chunk", *paths, "--param", "chunk_size=48"]) == 0
    serial = capsys.readouterr().out
    monkeypatch.setattr("chunkyard.cli.chunk_cmd.mp_context",
                        lambda: multiprocessing.get_context("spawn"))
    assert main(["chunk", *paths, "--param", "chunk_size=48", "--jobs", "2"]) == 0
    assert capsys.readouterr().out == serial


def test_workers_fork_only_from_a_single_threaded_parent() -> None:
    from chunkyard.cli.chunk_cmd import mp_context

    stop = threading.Event()
    helper = threading.Thread(target=stop.wait)
    helper.start()
    try:
        assert mp_context().get_start_method() == "spawn"
    finally:
        stop.set()
        helper.join()


def test_jobs_json_format_is_one_valid_array(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = _many_files(tmp_path, 4)
    assert main(["chunk", *paths, "--format", "json", "--jobs", "2"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["source"] for d in data] == sorted(d["source"] for d in data)
    assert len({d["source"] for d in data}) == 4


def test_jobs_must_be_positive(prose: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chunk", str(prose), "--jobs", "0"]) == 2
    assert "--jobs" in capsys.readouterr().err


def test_no_progress_bar_when_stderr_is_not_a_tty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = _many_files(tmp_path, 3)
    assert main(["chunk", *paths]) == 0
    assert capsys.readouterr().err == ""


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    paths = _many_files(tmp_path, 3)
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.Popen([EXE, "chunk", *paths, "-o", str(tmp_path / "out.jsonl")],
                                stdout=subprocess.DEVNULL, stderr=secondary)
        os.close(secondary)
        seen = b""
        while True:
            ready, _, _ = select.select([primary], [], [], 60)
            if not ready:
                break
            try:
                data = os.read(primary, 4096)
            except OSError:  # the terminal closed with the child
                break
            if not data:
                break
            seen += data
        assert proc.wait(timeout=60) == 0
    finally:
        os.close(primary)
    screen = seen.decode()
    assert "3/3 files" in screen and "MB/s" in screen
    assert "chunkyard: error" not in screen


# --------------------------------------------------------------------------- other commands


def test_strategies_lists_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    infos = list_strategies()
    for info in infos:
        assert any(line.startswith(info.name + " ") for line in out.splitlines())
    assert main(["strategies", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["name"] for d in data] == [i.name for i in infos]
    # The six names of the spec, in its order.
    assert [d["name"] for d in data] == [
        "character", "recursive", "markdown", "semantic", "hierarchical", "hybrid"]
    for d in data:
        assert set(d) == {"name", "description", "params_schema"}
        assert d["description"]
        assert "chunk_size" in d["params_schema"]["properties"]


def test_recommend(guide: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["recommend", str(guide), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"strategy", "params", "reason"}
    assert "guide.md" in data["reason"]
    assert main(["recommend", str(guide)]) == 0
    out = capsys.readouterr().out
    assert f"strategy: {data['strategy']}" in out
    assert f"--strategy {data['strategy']}" in out


def test_recommend_sizes_chunks_to_the_named_embedding_model(
    guide: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sizes = {}
    for extra in ([], ["--embedding-model", "text-embedding-3-small"],
                  ["--embedding-max-tokens", "64"]):
        assert main(["recommend", str(guide), "--json", *extra]) == 0
        sizes[tuple(extra)] = json.loads(capsys.readouterr().out)["params"]["chunk_size"]
    # Unnamed: all-MiniLM-L6-v2, which reads 256 word pieces, so about 200 cl100k tokens.
    assert sizes[()] <= 204
    assert sizes[("--embedding-model", "text-embedding-3-small")] >= sizes[()]
    assert sizes[("--embedding-max-tokens", "64")] < 64
    assert main(["recommend", str(guide), "--embedding-max-tokens", "3"]) == 2
    assert "--embedding-max-tokens must be 16 to 1000000" in capsys.readouterr().err


def test_recommend_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["recommend", str(tmp_path / "nope.md")]) == 1
    assert capsys.readouterr().err.count("\n") == 1


def test_compare_json_with_targeted_params(
    prose: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["compare", str(prose), "--strategy", "character", "--strategy", "recursive",
            "--param", "chunk_size=32", "--param", "recursive.chunk_overlap=8", "--json",
            "--max-chunks", "2"]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    character, recursive = data["results"]
    assert character["strategy"] == "character" and recursive["strategy"] == "recursive"
    assert character["params"]["chunk_size"] == recursive["params"]["chunk_size"] == 32
    assert character["params"]["chunk_overlap"] == 0
    assert recursive["params"]["chunk_overlap"] == 8
    for result in data["results"]:
        assert len(result["chunks"]) == 2
        assert result["metrics"]["chunk_count"] > 2
        assert result["metrics"]["tokens_max"] <= 32
    assert_recommends_the_best(data)
    assert data["recommendation"]["reason"]


def test_compare_table(prose: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["compare", str(prose), "--strategy", "character", "--strategy", "recursive",
            "--param", "chunk_size=32"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "mid-sent" in out and "recommended:" in out
    assert sum(1 for line in out.splitlines() if line.lstrip("* ").startswith(
        ("character", "recursive"))) == 2


def test_compare_reports_a_failing_configuration_in_its_row(
    prose: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An embedding endpoint on a closed port fails while chunking; recursive still compares.
    failing = ["--param", "semantic.embedding_url=http://127.0.0.1:9/v1",
               "--param", "semantic.embedding_api_model=m"]
    args = ["compare", str(prose), "--strategy", "recursive", "--strategy", "semantic",
            *failing]
    assert main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    recursive, semantic = data["results"]
    assert recursive["error"] is None and recursive["metrics"]["chunk_count"] > 0
    assert semantic["metrics"] is None and "127.0.0.1:9" in semantic["error"]
    assert data["recommendation"]["index"] == 0
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "semantic failed: cannot reach embedding endpoint" in out
    # Every configuration failing is an error, on one line.
    assert main(["compare", str(prose), "--strategy", "semantic", "--strategy", "semantic",
                 *failing]) == 1
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--strategy", "recursive"], "2 to 6"),
        (["--strategy", "recursive"] * 7, "2 to 6"),
        (["--strategy", "recursive", "--strategy", "character", "--param", "hybrid.x=1"],
         "not being compared"),
    ],
)
def test_compare_usage_errors(
    prose: Path, capsys: pytest.CaptureFixture[str], extra: list[str], needle: str
) -> None:
    assert main(["compare", str(prose), *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err


def test_compare_unknown_strategy_is_an_error(
    prose: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare", str(prose), "--strategy", "recursive", "--strategy", "zzz"]) == 1
    assert "unknown strategy 'zzz'" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_service_commands_are_listed_in_help(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--help"]) == 0
    assert command in capsys.readouterr().out


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "a command is required" in capsys.readouterr().err


# --------------------------------------------------------------------------- memory


@pytest.mark.slow
def test_a_100_mb_file_streams_under_500_mb_rss(tmp_path: Path) -> None:
    paragraph = (PROSE.replace("\n", " ").strip() + "\n\n")
    big = tmp_path / "big.txt"
    block = paragraph * (1_000_000 // len(paragraph) + 1)
    with big.open("w", encoding="utf-8") as handle:
        for _ in range(100):
            handle.write(block)
    assert big.stat().st_size >= 100_000_000
    # A fresh parent whose only child is the CLI, so RUSAGE_CHILDREN is that child's peak.
    probe = textwrap.dedent(
        f"""
        import resource, subprocess, sys
        done = subprocess.run([{EXE!r}, "chunk", {str(big)!r}],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print(done.returncode, peak_kb, done.stderr.decode()[-500:].replace(chr(10), " "))
        """
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=300)
    code, peak_kb, *rest = done.stdout.split(" ", 2)
    assert code == "0", rest
    peak_mb = int(peak_kb) / 1024
    print(f"peak RSS for a {big.stat().st_size / 1e6:.0f} MB file: {peak_mb:.0f} MB")
    assert peak_mb < 500


def test_a_file_failing_halfway_keeps_valid_json_framing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = chunkyard.iter_chunks

    def flaky(doc: chunkyard.Document, strategy: str, params: dict[str, Any]) -> Any:
        for n, chunk in enumerate(real(doc, strategy, params)):
            if doc.filename == "bad.txt" and n == 2:
                raise chunkyard.ChunkingError("embedding service went away")
            yield chunk

    monkeypatch.setattr("chunkyard.cli.chunk_cmd.iter_chunks", flaky)
    good = write(tmp_path / "good.txt", PROSE)
    bad = write(tmp_path / "bad.txt", PROSE)
    code = main(["chunk", str(good), str(bad), str(good), "--format", "json",
                 "--param", "chunk_size=24"])
    out, err = capsys.readouterr()
    assert code == 1
    assert err == f"chunkyard: error: {bad}: embedding service went away\n"
    data = json.loads(out)
    assert [d["source"] for d in data].count(str(bad)) == 2


def test_a_closed_pipe_stops_quietly(tmp_path: Path) -> None:
    big = write(tmp_path / "big.txt", PROSE * 2000)
    proc = subprocess.Popen([EXE, "chunk", str(big), "--param", "chunk_size=16"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # like `chunkyard chunk big.txt | head -1`
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 1
    assert json.loads(first)["index"] == 0
    assert err == ""


# --------------------------------------------------------------------------- start-up, output

SERVICE_MODULES = ("fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "celery",
                   "redis", "httpx", "pydantic_settings", "asyncio", "chunkyard.api",
                   "chunkyard.settings", "chunkyard.storage", "chunkyard.worker",
                   "chunkyard.operations", "chunkyard.chunking", "chunkyard.auth",
                   "chunkyard.embedding", "tiktoken")


def test_chunk_imports_no_service_code(tmp_path: Path) -> None:
    """`chunkyard chunk` imports what chunking needs and nothing of the service (nor
    tiktoken, whose encoder the fast cl100k engine does not need)."""
    tiny = write(tmp_path / "tiny.md", "# Tiny\n\nA tiny file.\n")
    probe = textwrap.dedent(
        f"""
        import json, sys
        from chunkyard.cli.main import main
        code = main(["chunk", {str(tiny)!r}, "-o", {str(tmp_path / "out.jsonl")!r}])
        print(json.dumps([code, sorted(sys.modules)]))
        """
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, check=True)
    code, modules = json.loads(done.stdout)
    assert code == 0
    loaded = [m for m in modules
              if any(m == s or m.startswith(s + ".") for s in SERVICE_MODULES)]
    assert loaded == []
    assert jsonl((tmp_path / "out.jsonl").read_text("utf-8"))[0]["text"].startswith("# Tiny")


def test_every_command_is_in_the_lazy_table() -> None:
    """main() imports only the chosen command's module; the table must list them all."""
    from chunkyard.cli.main import COMMANDS, build_parser

    full = build_parser()
    choices = next(a.choices for a in full._actions if a.dest == "command")
    assert choices is not None
    assert set(choices) == set(COMMANDS)
    for command in COMMANDS:
        one = next(a.choices for a in build_parser(command)._actions if a.dest == "command")
        assert one is not None and command in one


def test_orjson_and_the_standard_library_write_the_same_bytes() -> None:
    from chunkyard.cli.chunk_cmd import ORJSON_MIN_BYTES, json_encoder

    fast, slow = json_encoder(False, ORJSON_MIN_BYTES), json_encoder(False, 0)
    assert fast is not slow
    texts = ["plain", 'quote " and \\ backslash', "ctrl \x00\x01\x1f\x7f \t\r\n", "é中😀",
             "\u2028\u2029 separators", "e\u0301", ""]
    for text in texts:
        data = {"index": 3, "text": text, "start": 0, "end": len(text), "tokens": 2,
                "metadata": {"strategy": "markdown", "headings": [text], "level": None,
                             "flag": True}, "source": text}
        assert fast(data) == slow(data)
        assert json.loads(fast(data)) == data
    # A lone surrogate (orjson refuses it) still becomes valid JSON, escaped.
    odd = {"text": "\ud800 and é"}
    assert fast(odd) == slow(odd) == b'{"text":"\\ud800 and \\u00e9"}'
    assert json.loads(fast(odd)) == odd


def test_large_input_output_matches_small_input_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whichever encoder a run picks (by input size), the bytes written are the same."""
    paths = _many_files(tmp_path, 3)
    assert main(["chunk", *paths, "--param", "chunk_size=32"]) == 0
    small = capsys.readouterr().out
    monkeypatch.setattr("chunkyard.cli.chunk_cmd.ORJSON_MIN_BYTES", 1)
    assert main(["chunk", *paths, "--param", "chunk_size=32"]) == 0
    assert capsys.readouterr().out == small
    assert main(["chunk", *paths, "--param", "chunk_size=32", "--jobs", "2"]) == 0
    assert capsys.readouterr().out == small


def test_a_non_utf8_stdout_gets_ascii_json(tmp_path: Path) -> None:
    source = write(tmp_path / "u.txt", "Ünïcödé text, 中文 and 😀.\n\nSecond paragraph.")
    env = {**os.environ, "PYTHONIOENCODING": "latin-1"}
    for fmt in ("jsonl", "text"):
        done = subprocess.run([EXE, "chunk", str(source), "--format", fmt],
                              capture_output=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        if fmt == "jsonl":
            assert done.stdout.isascii()
            records = jsonl(done.stdout.decode("ascii"))
            text = source.read_text("utf-8")
            assert all(r["text"] == text[r["start"]:r["end"]] for r in records)
        else:
            assert "Ünïcödé".encode("latin-1") in done.stdout
