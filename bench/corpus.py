"""Build the benchmark corpus (prose, markdown, python) from text that ships on this machine.

How it is built
===============

Nothing is downloaded. Every document comes from a file that a fresh machine of this kind
already has: the running interpreter's standard library, and documentation that Debian's
packages in the machine image install under ``/usr/share``. For each kind the builder walks
an ordered list of *tiers*; each tier lists candidate files in a fixed order and may carry a
byte cap, so that no single source swamps a kind. Candidates are taken until the kind holds
``TARGET_BYTES`` (7,000,000 bytes of UTF-8); the whole corpus is then about 21 MB.

prose (``.txt``), in tier order:
  1. ``pydoc_data.topics`` of the running interpreter: the language-reference topics that
     ``help()`` prints, one document per topic (about 0.46 MB).
  2. ``/usr/share/common-licenses/*``: GPL, LGPL, Apache, MPL, ... (about 0.27 MB).
  3. ``/usr/share/doc/*/NEWS*`` that are not markdown, gunzipped; cap 1.2 MB.
  4. Vim's help files ``/usr/share/vim/vim*/doc/*.txt``, user manual (``usr_*``) first;
     cap 3.0 MB.
  5. Docstrings of the standard library: one document per module (module, class and
     function docstrings, ``inspect.cleandoc``-ed, joined by blank lines), modules with at
     least 2 KB of them; cap 1.2 MB.
  6. ``/usr/share/doc/*/copyright``; cap 0.8 MB.
  7. ``/usr/share/doc/*/changelog*`` (Debian changelogs, gunzipped) to fill up.

markdown (``.md``):
  1. Node.js API reference ``/usr/share/doc/nodejs/api/*.md`` (about 3.5 MB).
  2. The rest of ``/usr/share/doc/nodejs`` except ``changelogs/`` (contributing guides, ...).
  3. Every other ``*.md`` / ``*.md.gz`` under ``/usr/share/doc`` (pip, systemd, git, rsync,
     openssl, zstd, ...).
  4. Node.js release changelogs ``/usr/share/doc/nodejs/changelogs/*.md`` to fill up.

python (``.py``): modules of the running interpreter's standard library
(``sysconfig.get_paths()["stdlib"]``), leaving out ``site-packages``, ``test``/``tests``,
``idlelib``, ``encodings`` (generated codec tables) and ``pydoc_data`` (one huge string
literal), in the order of ``sha1(relative path)`` so that the selection spreads over the
whole library instead of its alphabetical head; the test suite is a fallback tier.

Every candidate is decoded as strict UTF-8 (a file that fails is skipped and counted),
``\\r\\n`` becomes ``\\n``, and it is dropped if it is shorter than 1 KB, longer than 1 MB,
contains NUL, repeats a document already taken (same text), or contains one of tiktoken's
special-token strings such as ``<|endoftext|>`` (``tiktoken.Encoding.encode`` raises on
those by default, which several peers call; dropping them keeps every peer on the same text).

Output: ``bench/.corpus/{prose,markdown,python}/NNNN_<source-slug>.<ext>`` plus
``bench/.corpus/manifest.json`` (source, size and sha256 of every document, and a digest per
kind). After writing, every file is read back and decoded as strict UTF-8. The same image
gives the same manifest; compare the digests to know two runs measured the same text.

Run ``python bench/corpus.py`` (``--force`` rebuilds); ``bench/peers.py`` builds it on demand.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import hashlib
import inspect
import json
import re
import shutil
import sys
import sysconfig
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parent / ".corpus"
MANIFEST = CORPUS_DIR / "manifest.json"
BUILDER_VERSION = 2
KINDS = ("prose", "markdown", "python")
EXTENSIONS = {"prose": "txt", "markdown": "md", "python": "py"}
TARGET_BYTES = 7_000_000
MIN_BYTES = 5_000_000
MIN_DOC_BYTES = 1_000
MAX_DOC_BYTES = 1_000_000
# Spelled in pieces so that this file can itself be read as corpus text by any tool.
SPECIAL_TOKENS = tuple(
    "<|" + name + "|>"
    for name in ("endoftext", "fim_prefix", "fim_middle", "fim_suffix", "endofprompt")
)

DOC = Path("/usr/share/doc")
NODE_DOC = DOC / "nodejs"

# A candidate is (source label, loader); the loader returns the raw bytes or text.
Candidate = tuple[str, Callable[[], bytes | str]]


@dataclass
class Tier:
    name: str
    candidates: Callable[[], Iterable[Candidate]]
    cap: int | None = None


@dataclass
class Stats:
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def _read(path: Path) -> Callable[[], bytes]:
    def load() -> bytes:
        data = path.read_bytes()
        return gzip.decompress(data) if path.name.endswith(".gz") else data

    return load


def _files(paths: Iterable[Path]) -> Iterator[Candidate]:
    for path in paths:
        if path.is_file():
            yield str(path), _read(path)


def _doc_files(predicate: Callable[[Path], bool]) -> list[Path]:
    """Regular files under /usr/share/doc (symlinks skipped: they repeat other packages)."""
    if not DOC.is_dir():
        return []
    return sorted(p for p in DOC.rglob("*") if p.is_file() and not p.is_symlink() and predicate(p))


def _base_name(path: Path) -> str:
    return path.name[:-3] if path.name.endswith(".gz") else path.name


def _is_markdown(path: Path) -> bool:
    return _base_name(path).lower().endswith(".md")


def _stdlib() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


# -- prose ---------------------------------------------------------------------------------


def _pydoc_topics() -> Iterator[Candidate]:
    from pydoc_data.topics import topics

    for name in sorted(topics):
        text = topics[name]
        yield f"pydoc_data.topics:{name}", lambda text=text: text


def _common_licenses() -> Iterator[Candidate]:
    root = Path("/usr/share/common-licenses")
    if root.is_dir():
        yield from _files(sorted(p for p in root.iterdir() if not p.is_symlink()))


def _news() -> Iterator[Candidate]:
    yield from _files(_doc_files(lambda p: p.name.startswith("NEWS") and not _is_markdown(p)))


def _vim_help() -> Iterator[Candidate]:
    paths = sorted(Path("/usr/share/vim").glob("vim*/doc/*.txt"))
    yield from _files(sorted(paths, key=lambda p: (not p.name.startswith("usr_"), str(p))))


def _python_modules(include_tests: bool) -> list[Path]:
    root = _stdlib()
    excluded = {"site-packages", "dist-packages", "idlelib", "encodings", "pydoc_data"}
    chosen = []
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).parts
        if parts[0] in excluded or parts[0].startswith("config-"):
            continue
        is_test = parts[0] == "test" or "tests" in parts[:-1]
        if is_test == include_tests:
            chosen.append(path)
    return sorted(chosen, key=lambda p: hashlib.sha1(str(p.relative_to(root)).encode()).hexdigest())


def _docstrings() -> Iterator[Candidate]:
    root = _stdlib()
    for path in sorted(_python_modules(include_tests=False)):
        try:
            tree = ast.parse(path.read_bytes())
        except (SyntaxError, ValueError):
            continue
        parts = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node, clean=False)
                if doc:
                    parts.append(inspect.cleandoc(doc))
        text = "\n\n".join(parts)
        if len(text) >= 2_000:
            yield f"docstrings:{path.relative_to(root)}", lambda text=text: text


def _copyrights() -> Iterator[Candidate]:
    yield from _files(_doc_files(lambda p: p.name == "copyright"))


def _debian_changelogs() -> Iterator[Candidate]:
    yield from _files(
        _doc_files(
            lambda p: (
                p.name.lower().startswith("changelog")
                and not _is_markdown(p)
                and NODE_DOC not in p.parents
            )
        )
    )


# -- markdown ------------------------------------------------------------------------------


def _node_api() -> Iterator[Candidate]:
    yield from _files(sorted((NODE_DOC / "api").glob("*.md")))


def _node_other() -> Iterator[Candidate]:
    yield from _files(
        _doc_files(
            lambda p: (
                NODE_DOC in p.parents
                and _is_markdown(p)
                and (NODE_DOC / "api") not in p.parents
                and (NODE_DOC / "changelogs") not in p.parents
            )
        )
    )


def _other_markdown() -> Iterator[Candidate]:
    yield from _files(_doc_files(lambda p: NODE_DOC not in p.parents and _is_markdown(p)))


def _node_changelogs() -> Iterator[Candidate]:
    yield from _files(sorted((NODE_DOC / "changelogs").glob("*.md")))


# -- python --------------------------------------------------------------------------------


def _stdlib_sources() -> Iterator[Candidate]:
    yield from _files(_python_modules(include_tests=False))


def _stdlib_tests() -> Iterator[Candidate]:
    yield from _files(_python_modules(include_tests=True))


TIERS: dict[str, list[Tier]] = {
    "prose": [
        Tier("pydoc topics", _pydoc_topics),
        Tier("common licences", _common_licenses),
        Tier("Debian NEWS", _news, cap=1_200_000),
        Tier("Vim help", _vim_help, cap=3_000_000),
        Tier("stdlib docstrings", _docstrings, cap=1_200_000),
        Tier("Debian copyright", _copyrights, cap=800_000),
        Tier("Debian changelogs", _debian_changelogs),
    ],
    "markdown": [
        Tier("Node.js API docs", _node_api),
        Tier("Node.js other docs", _node_other),
        Tier("other /usr/share/doc markdown", _other_markdown),
        Tier("Node.js changelogs", _node_changelogs),
    ],
    "python": [
        Tier("stdlib modules", _stdlib_sources),
        Tier("stdlib tests", _stdlib_tests),
    ],
}


def _normalise(raw: bytes | str, stats: Stats) -> str | None:
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            stats.skip("not UTF-8")
            return None
    else:
        text = raw
    text = text.replace("\r\n", "\n")
    size = len(text.encode("utf-8"))
    if size < MIN_DOC_BYTES or not text.strip():
        stats.skip("under 1 KB")
        return None
    if size > MAX_DOC_BYTES:
        stats.skip("over 1 MB")
        return None
    if "\x00" in text:
        stats.skip("contains NUL")
        return None
    if any(token in text for token in SPECIAL_TOKENS):
        stats.skip("contains a tiktoken special token")
        return None
    return text


def _slug(source: str) -> str:
    tail = "_".join(re.split(r"[/:]", source)[-3:])
    tail = re.sub(r"(\.(md|txt|py))?(\.gz)?$", "", tail)
    return re.sub(r"[^A-Za-z0-9._-]+", "-", tail).strip("-._")[:80]


def build(force: bool = False, verbose: bool = True) -> dict:
    """Build the corpus (or return the existing manifest when it is current)."""
    if not force and MANIFEST.exists():
        manifest = json.loads(MANIFEST.read_text("utf-8"))
        if manifest.get("builder_version") == BUILDER_VERSION:
            return manifest
    if CORPUS_DIR.exists():
        shutil.rmtree(CORPUS_DIR)
    seen: set[str] = set()
    stats = Stats()
    documents = []
    kinds = {}
    for kind in KINDS:
        out_dir = CORPUS_DIR / kind
        out_dir.mkdir(parents=True)
        total = count = 0
        tiers_used = {}
        for tier in TIERS[kind]:
            taken = 0
            for source, load in tier.candidates():
                if total >= TARGET_BYTES or (tier.cap is not None and taken >= tier.cap):
                    break
                try:
                    raw = load()
                except (OSError, EOFError, gzip.BadGzipFile):
                    stats.skip("unreadable")
                    continue
                text = _normalise(raw, stats)
                if text is None:
                    continue
                digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
                if digest in seen:
                    stats.skip("duplicate")
                    continue
                seen.add(digest)
                data = text.encode("utf-8")
                name = f"{count:04d}_{_slug(source)}"
                count += 1
                path = out_dir / f"{name}.{EXTENSIONS[kind]}"
                path.write_bytes(data)
                documents.append(
                    {
                        "kind": kind,
                        "file": str(path.relative_to(CORPUS_DIR)),
                        "source": source,
                        "tier": tier.name,
                        "bytes": len(data),
                        "sha256": digest,
                    }
                )
                taken += len(data)
                total += len(data)
            if taken:
                tiers_used[tier.name] = taken
        if total < MIN_BYTES:
            raise RuntimeError(
                f"corpus kind {kind!r} reached only {total:,} bytes (< {MIN_BYTES:,}); "
                "the sources listed in bench/corpus.py are missing on this machine"
            )
        kind_docs = [d for d in documents if d["kind"] == kind]
        kinds[kind] = {
            "bytes": total,
            "documents": len(kind_docs),
            "tiers": tiers_used,
            "sha256": hashlib.sha256("".join(d["sha256"] for d in kind_docs).encode()).hexdigest(),
        }
    validate(documents)
    manifest = {
        "builder_version": BUILDER_VERSION,
        "python": sys.version.split()[0],
        "stdlib": str(_stdlib()),
        "kinds": kinds,
        "skipped": stats.skipped,
        "documents": documents,
    }
    MANIFEST.write_text(json.dumps(manifest, indent=1) + "\n", "utf-8")
    if verbose:
        summarise(manifest)
    return manifest


def validate(documents: list[dict]) -> None:
    """Read every document back: it must decode as strict UTF-8 and match its digest."""
    for doc in documents:
        data = (CORPUS_DIR / doc["file"]).read_bytes()
        data.decode("utf-8")  # raises UnicodeDecodeError on a bad file
        if hashlib.sha256(data).hexdigest() != doc["sha256"]:
            raise RuntimeError(f"{doc['file']} does not match its manifest digest")


def load(kind: str, manifest: dict) -> list[tuple[str, bytes]]:
    """The documents of one kind as (file name, UTF-8 bytes), in manifest order."""
    return [
        (Path(doc["file"]).name, (CORPUS_DIR / doc["file"]).read_bytes())
        for doc in manifest["documents"]
        if doc["kind"] == kind
    ]


def summarise(manifest: dict) -> None:
    for kind, info in manifest["kinds"].items():
        print(
            f"{kind:9s} {info['bytes'] / 1e6:6.2f} MB in {info['documents']:4d} documents  "
            f"sha256 {info['sha256'][:16]}"
        )
        for tier, size in info["tiers"].items():
            print(f"    {tier:32s} {size / 1e6:6.2f} MB")
    total = sum(info["bytes"] for info in manifest["kinds"].values())
    print(f"total     {total / 1e6:6.2f} MB; skipped: {manifest['skipped']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if current")
    args = parser.parse_args()
    manifest = build(force=args.force, verbose=False)
    summarise(manifest)


if __name__ == "__main__":
    main()
