"""`chunkyard strategies`, `recommend` and `compare`: help in choosing how to chunk."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import textwrap
from typing import Any

from chunkyard.chunking.recommend import recommend
from chunkyard.cli.common import UsageError, dump_json, params_for, parse_params
from chunkyard.core.compare import (
    ComparisonFailure,
    ComparisonResult,
    compare,
    pick_recommendation,
    result_dict,
)
from chunkyard.core.registry import list_strategies, strategy_class
from chunkyard.extract import extract_file

COMPARE_MIN, COMPARE_MAX = 2, 6


def add_parsers(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "strategies", parents=parents, help="list the chunking strategies",
        description="List the chunking strategies with their descriptions.",
    )
    p.add_argument("--json", action="store_true",
                   help="print [{name, description, params_schema}] as JSON")
    p.set_defaults(handler=run_strategies)

    p = subparsers.add_parser(
        "recommend", parents=parents, help="recommend a strategy and parameters for a file",
        description="Look at a file's name and content and recommend a strategy, its "
        "parameters and the reason.",
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument("--embedding-model", metavar="NAME",
                   help="the model the chunks will be embedded with (e.g. all-MiniLM-L6-v2, "
                   "text-embedding-3-small): chunks are sized to what it reads")
    p.add_argument("--embedding-max-tokens", type=int, metavar="N",
                   help="or the input limit of that model, in its tokens")
    p.add_argument("--json", action="store_true", help="print {strategy, params, reason}")
    p.set_defaults(handler=run_recommend)

    p = subparsers.add_parser(
        "compare", parents=parents, help="compare strategies on one file",
        description="Chunk one file with 2 to 6 strategies and compare chunk counts, token "
        "statistics, small chunks and mid-sentence cuts; the best-looking one is named.",
        epilog=textwrap.fill(
            "--param KEY=VALUE applies to every strategy; --param STRATEGY.KEY=VALUE (e.g. "
            "recursive.chunk_overlap=32) applies to that strategy only. Values are parsed "
            "as JSON when they parse, else kept as text; a repeated key keeps its last "
            "value.", 79) + "\n\nexample:\n  chunkyard compare notes.md --strategy recursive "
        "--strategy markdown \\\n      --param chunk_size=256 --param recursive.chunk_overlap=32",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument("--strategy", action="append", required=True, metavar="NAME",
                   dest="strategies",
                   help=f"a strategy to compare; give {COMPARE_MIN} to {COMPARE_MAX}")
    p.add_argument("--param", action="append", default=[], metavar="[STRATEGY.]KEY=VALUE",
                   help="a parameter for all strategies, or for STRATEGY only; repeatable")
    p.add_argument("--max-chunks", type=int, default=0, metavar="N",
                   help="with --json, include the first N chunks of each result (default 0)")
    p.add_argument("--json", action="store_true",
                   help="print {results: [{strategy, params, metrics, chunks}], recommendation}")
    p.set_defaults(handler=run_compare)


def run_strategies(args: argparse.Namespace) -> int:
    infos = list_strategies()
    if args.json:
        dump_json([i.to_dict() for i in infos], sys.stdout)
        return 0
    width = max((len(i.name) for i in infos), default=0) + 2
    for info in infos:
        lines = textwrap.wrap(info.description, 100 - width) or [""]
        print(info.name.ljust(width) + lines[0])
        for line in lines[1:]:
            print(" " * width + line)
    return 0


def run_recommend(args: argparse.Namespace) -> int:
    limit = args.embedding_max_tokens
    if limit is not None and not 16 <= limit <= 1_000_000:
        raise UsageError(f"--embedding-max-tokens must be 16 to 1000000, got {limit}")
    doc = extract_file(args.file)
    rec = recommend(args.file, doc.text, embedding_model=args.embedding_model,
                    embedding_max_tokens=limit)
    if args.json:
        dump_json(rec.to_dict(), sys.stdout)
        return 0
    params = " ".join(f"--param {k}={json.dumps(v)}" for k, v in rec.params.items())
    print(f"strategy: {rec.strategy}")
    print(f"params:   {json.dumps(rec.params)}")
    print(f"reason:   {rec.reason}")
    print(f"try:      chunkyard chunk {shlex.quote(args.file)} --strategy {rec.strategy} {params}")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    names: list[str] = args.strategies
    if not COMPARE_MIN <= len(names) <= COMPARE_MAX:
        raise UsageError(
            f"compare needs {COMPARE_MIN} to {COMPARE_MAX} --strategy options, got {len(names)}"
        )
    if args.max_chunks < 0:
        raise UsageError(f"--max-chunks must be at least 0, got {args.max_chunks}")
    parsed = parse_params(args.param)
    for target, key, _ in parsed:
        if target and target not in names:
            raise UsageError(
                f"--param {target}.{key} targets {target}, which is not being compared"
            )
    for name in names:
        strategy_class(name)  # an unknown name fails before the file is read
    configs = [{"strategy": n, "params": params_for(n, parsed)} for n in names]
    doc = extract_file(args.file)
    # A configuration that fails while chunking is reported in its row, as the API does; only
    # when every one fails is it an error.
    results = compare(doc, configs, max_chunks=args.max_chunks if args.json else 0,
                      keep_going=True)
    pick = pick_recommendation(results)
    if args.json:
        dump_json({"results": [result_dict(r) for r in results],
                   "recommendation": pick.to_dict()}, sys.stdout)
        return 0
    _print_table(results, pick.index)
    print()
    print(f"recommended: {pick.reason}")
    return 0


def _print_table(results: list[ComparisonResult | ComparisonFailure], best: int) -> None:
    header = ("strategy", "size", "chunks", "mean", "min", "max", "p95", "small", "mid-sent",
              "ms")
    rows = []
    failures = []
    for i, r in enumerate(results):
        if isinstance(r, ComparisonFailure):
            failures.append(f"{r.strategy} failed: {r.error}")
            rows.append(("  " + r.strategy, str(r.chunk_size), "failed", *[""] * 7))
            continue
        m = r.metrics
        rows.append((
            ("* " if i == best else "  ") + r.strategy, str(r.chunk_size), str(m.chunk_count),
            f"{m.tokens_mean:.1f}", str(m.tokens_min), str(m.tokens_max), str(m.tokens_p95),
            f"{m.small_share:.0%}", f"{m.mid_sentence_share:.0%}", f"{m.time_ms:.1f}",
        ))
    head = ("  " + header[0], *header[1:])
    widths = [max(len(row[c]) for row in [head, *rows]) for c in range(len(header))]
    for row in [head, *rows]:
        cells = [row[0].ljust(widths[0])] + [v.rjust(w) for v, w in zip(row[1:], widths[1:],
                                                                           strict=True)]
        print("  ".join(cells).rstrip())
    for line in failures:
        print(line)
