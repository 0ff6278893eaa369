"""recommend(): strategy, parameters and reason from a file name and its content."""

from __future__ import annotations

from pathlib import Path

import pytest

import chunkyard
from chunkyard.chunking import recommend as rec_module
from chunkyard.chunking.recommend import (
    RETRIEVAL_CHUNK_TOKENS,
    Recommendation,
    chunk_size_for,
    readable_tokens,
    recommend,
)
from chunkyard.core.registry import list_strategies
from chunkyard.core.sizing import get_tokenizer

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
REGISTERED = {i.name for i in list_strategies()}


def expect(name: str) -> str:
    """The strategy recommend must pick: `name`, or recursive while `name` is not built in."""
    return name if name in REGISTERED else "recursive"


def corpus(name: str) -> str:
    return (CORPUS / name).read_text(encoding="utf-8")


def prose(paragraphs: int) -> str:
    para = ("The river runs past the old mill and the meadow. Farmers bring grain in autumn, "
            "and the miller keeps a ledger of every sack. ")
    return "\n\n".join(f"{para * 3}Paragraph {i} ends here." for i in range(paragraphs))


def runs(r: Recommendation, text: str, filename: str) -> None:
    """The recommended configuration is valid and chunks the document."""
    chunks = chunkyard.chunk_text(text, r.strategy, filename=filename, **r.params)
    assert chunks
    assert all(c.tokens <= r.params["chunk_size"] for c in chunks)


def test_markdown_file() -> None:
    text = corpus("guide.md")
    r = recommend("guide.md", text)
    assert r.strategy == expect("markdown")
    assert r.kind == "markdown"
    assert "guide.md" in r.reason and "heading" in r.reason
    runs(r, text, "guide.md")


def test_code_file_with_a_known_language_goes_to_code_aware_recursive() -> None:
    text = corpus("sample.py")
    r = recommend("sample.py", text)
    assert r.strategy == "recursive"
    assert r.kind == "code"
    assert "python" in r.reason and "definition" in r.reason
    assert "chunk_overlap" not in r.params
    runs(r, text, "sample.py")


def test_code_recognised_from_content_only_goes_to_hybrid() -> None:
    text = corpus("sample.py")
    r = recommend("sample", text)
    assert r.kind == "code"
    assert r.strategy == expect("hybrid")


def test_markdown_dominated_by_code_fences_is_mixed() -> None:
    code = "def f(x):\n    return x * 2\n\n" * 20
    text = f"# Notes\n\nA short intro.\n\n```python\n{code}```\n\n## More\n\nText.\n"
    r = recommend("notes.md", text)
    assert r.kind == "mixed"
    assert r.strategy == expect("hybrid")
    assert "fenced code block" in r.reason and "%" in r.reason
    runs(r, text, "notes.md")


def test_markdown_with_a_small_fence_stays_markdown() -> None:
    text = "# Notes\n\n" + prose(6) + "\n\n```\nx = 1\n```\n"
    assert recommend("notes.md", text).kind == "markdown"


def test_prose_goes_to_recursive_without_overlap() -> None:
    for text in (corpus("prose.txt"), prose(60)):
        r = recommend("prose.txt", text)
        assert r.kind == "prose"
        assert r.strategy == "recursive"
        assert "chunk_overlap" not in r.params
        assert "retrieval benchmark" in r.reason
        runs(r, text, "prose.txt")


def test_an_unregistered_choice_falls_back_to_recursive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rec_module, "_registered", lambda name: name != "markdown")
    r = recommend("guide.md", corpus("guide.md"))
    assert r.strategy == "recursive"
    assert "not available" in r.reason


def test_without_content_the_name_decides() -> None:
    r = recommend("notes.md", None)
    assert r.strategy == expect("markdown")
    assert r.params == {"chunk_size": chunk_size_for().chunk_size}
    assert "no content" in r.reason
    r = recommend("main.go", None)
    assert r.strategy == "recursive" and "go" in r.reason
    r = recommend("README", None)
    assert r.strategy == "recursive" and r.kind == "prose"


def finance_report(target_bytes: int) -> str:
    """A long markdown finance report: headings, paragraphs, tables, lists."""
    parts = ["# Annual Report 2025\n\nThis report covers the group's results.\n"]
    i = 0
    while sum(len(p) for p in parts) < target_bytes:
        i += 1
        parts.append(
            f"\n## Segment {i}\n\nRevenue in segment {i} rose {i % 9 + 1}% to "
            f"{100 + i:,} million, driven by pricing and volume. Operating margin was "
            f"{10 + i % 7}.{i % 10}%, and cash conversion stayed above 90%. Management "
            "expects the outlook to remain stable despite currency headwinds.\n\n"
            "| Quarter | Revenue | EBITDA | Margin |\n|---|---|---|---|\n"
            + "".join(f"| Q{q} | {i * 10 + q:,} | {i * 3 + q:,} | {20 + q}% |\n"
                      for q in range(1, 5))
            + "\n- Capital expenditure was in line with guidance.\n"
            "- Net debt fell as working capital improved.\n")
    return "".join(parts)


def test_a_long_finance_report_is_sized_for_minilm_not_by_its_length() -> None:
    text = finance_report(740_000)
    tokens = get_tokenizer().count(text)
    assert tokens > 150_000
    for kwargs in ({}, {"embedding_model": "all-MiniLM-L6-v2"},
                   {"embedding_model": "sentence-transformers/all-MiniLM-L6-v2"}):
        r = recommend("report.md", text, **kwargs)  # type: ignore[arg-type]
        assert r.params["chunk_size"] != 1024
        # all-MiniLM-L6-v2 reads 256 word pieces: about 200 cl100k tokens at most.
        assert r.params["chunk_size"] <= 204
        assert "256 word pieces" in r.reason and "all-MiniLM-L6-v2" in r.reason
        assert "retrieval benchmark" in r.reason
        assert f"{tokens:,}" not in r.reason  # the size does not come from the length


def test_the_size_does_not_follow_the_documents_length() -> None:
    small = recommend("a.txt", "Just one line of text.")
    big = recommend("a.txt", prose(600))
    assert small.params["chunk_size"] == big.params["chunk_size"]


def test_a_named_models_limit_caps_the_size() -> None:
    # A model that reads far more: the size is what retrieval needs.
    openai = recommend("a.txt", prose(10), embedding_model="text-embedding-3-small")
    assert openai.params["chunk_size"] == RETRIEVAL_CHUNK_TOKENS
    assert "8,191 tokens" in openai.reason
    # A model that reads less: its limit caps the size, with a margin for finer tokenizers.
    capped = recommend("a.txt", prose(10), embedding_max_tokens=128)
    assert capped.params["chunk_size"] == readable_tokens(128, False) < 128
    assert "128" in capped.reason
    # cl100k models need no margin.
    exact = chunk_size_for("text-embedding-3-large", 100)
    assert exact.chunk_size == 100
    # Never below what a configuration accepts.
    assert chunk_size_for(None, 16).chunk_size == 16
    # An unknown name: retrieval's size, and the reason says how to cap it.
    unknown = chunk_size_for("my-own-model")
    assert unknown.chunk_size == RETRIEVAL_CHUNK_TOKENS
    assert "embedding_max_tokens" in unknown.reason
    for r in (openai, capped):
        runs(r, prose(10), "a.txt")


def test_deterministic_and_serialisable() -> None:
    text = corpus("guide.md")
    first = recommend("guide.md", text)
    assert recommend("guide.md", text) == first
    assert first.to_dict() == {
        "strategy": first.strategy, "params": first.params, "reason": first.reason,
    }
    assert first.reason.endswith(".")
