"""recommend(): strategy, parameters and reason from a file name and its content."""

from __future__ import annotations

from pathlib import Path

import pytest

import chunkyard
from chunkyard.chunking import recommend as rec_module
from chunkyard.chunking.recommend import (
    LARGE_CHUNK_SIZE,
    Recommendation,
    chunk_size_for,
    estimate_tokens,
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


def test_short_prose_goes_to_recursive_with_overlap() -> None:
    text = corpus("prose.txt")
    r = recommend("prose.txt", text)
    assert r.kind == "prose"
    assert r.strategy == "recursive"
    assert r.params["chunk_overlap"] == r.params["chunk_size"] // 8
    assert "short" in r.reason
    runs(r, text, "prose.txt")


def test_long_prose_goes_to_semantic_only_when_it_can_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = prose(60)
    assert estimate_tokens(text) > rec_module.SEMANTIC_MIN_TOKENS
    monkeypatch.setattr(rec_module, "semantic_available", lambda: False)
    r = recommend("essay.txt", text)
    assert r.strategy == "recursive"
    assert "semantic" in r.reason
    monkeypatch.setattr(rec_module, "semantic_available", lambda: True)
    assert recommend("essay.txt", text).strategy == expect("semantic")


def test_semantic_needs_its_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rec_module, "SEMANTIC_MODULES", ("no_such_module_for_chunkyard",))
    assert rec_module.semantic_available() is False


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
    assert r.params == {"chunk_size": 512}
    assert "no content" in r.reason
    r = recommend("main.go", None)
    assert r.strategy == "recursive" and "go" in r.reason
    r = recommend("README", None)
    assert r.strategy == "recursive" and r.kind == "prose"


def test_chunk_size_follows_document_size() -> None:
    assert chunk_size_for(None) == 512
    assert chunk_size_for(100) == 256
    assert chunk_size_for(10_000) == 512
    assert chunk_size_for(1_000_000) == LARGE_CHUNK_SIZE
    small = recommend("a.txt", "Just one line of text.")
    big = recommend("a.txt", prose(600))
    assert small.params["chunk_size"] < big.params["chunk_size"]
    assert f"{big.params['chunk_size']} tokens" in big.reason


def test_token_estimate_is_exact_for_short_text_and_scaled_for_long() -> None:
    tok = get_tokenizer()
    assert estimate_tokens("") == 0
    assert estimate_tokens("hello world") == tok.count("hello world")
    long = prose(800)
    assert len(long) > rec_module.COUNT_SAMPLE_CHARS
    exact = tok.count(long)
    assert abs(estimate_tokens(long) - exact) / exact < 0.05


def test_deterministic_and_serialisable() -> None:
    text = corpus("guide.md")
    first = recommend("guide.md", text)
    assert recommend("guide.md", text) == first
    assert first.to_dict() == {
        "strategy": first.strategy, "params": first.params, "reason": first.reason,
    }
    assert first.reason.endswith(".")
