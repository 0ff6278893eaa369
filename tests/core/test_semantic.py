"""The `semantic` strategy with the real bundled model, and through an OpenAI-compatible server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import OrderedDict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chunkyard
from chunkyard import Chunk, ChunkingError
from chunkyard.core.breakpoints import similarity_breaks
from chunkyard.core.embeddings import API_KEY_ENV, use_embedders
from chunkyard.core.registry import create_strategy, strategy_class
from chunkyard.core.sentences import split_sentences
from chunkyard.core.strategies import semantic
from chunkyard.embedding import bundled_model_path, default_model_path, get_embedder
from chunkyard.embedding import choose as embeddings_choose
from invariants import check_invariants
from local_http import serving

PASTA = [
    "To cook pasta, bring a large pot of salted water to a rolling boil.",
    "Add the spaghetti and stir it during the first minute so the strands do not stick.",
    "Most dried pasta needs between eight and twelve minutes to become al dente.",
    "Save a cup of the starchy cooking water before you drain the noodles in a colander.",
    "Toss the drained pasta with garlic, olive oil and grated parmesan cheese.",
    "A splash of the reserved water helps the sauce cling to every strand of spaghetti.",
]
ORBITS = [
    "A satellite in low Earth orbit circles the planet roughly every ninety minutes.",
    "Its orbital velocity is about 7.8 kilometres per second at an altitude of 400 km.",
    "Kepler's third law relates the orbital period to the length of the semi-major axis.",
    "To raise its orbit, a spacecraft performs a prograde burn at perigee.",
    "A Hohmann transfer uses two engine burns to move between circular orbits.",
    "Atmospheric drag slowly lowers the station's orbit, so it needs periodic reboosts.",
]
TOPICS = " ".join(PASTA + ORBITS)
CHANGE = TOPICS.index(ORBITS[0])  # where the topic changes
API_KEY = "sk-semantic-test-0123456789"


def chunk(text: str, **params: Any) -> list[Chunk]:
    return chunkyard.chunk_text(text, "semantic", **params)


def sentence_starts(text: str) -> set[int]:
    return {s for s, _ in split_sentences(text)}


# --------------------------------------------------------------------------- topic changes


# The bundled static model (the default) and the contextual MiniLM it was distilled from.
MODELS = ["static", "local"]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("params", [{}, {"percentile": 95}, {"threshold": 0.85}, {"window": 2}])
def test_splits_at_the_sentence_where_the_topic_changes(params: dict[str, Any],
                                                        model: str) -> None:
    chunks = chunk(TOPICS, chunk_size=512, embedding_model=model, **params)
    check_invariants(TOPICS, chunks, 512)
    assert [(c.start, c.end) for c in chunks] == [(0, CHANGE - 1), (CHANGE, len(TOPICS))]
    assert chunks[0].metadata["break_distance"] is None
    assert chunks[1].metadata["break_distance"] > 0.85
    assert chunks[1].metadata["break_reason"] == "topic"
    assert all(c.metadata["embedding_model"] == model for c in chunks)
    assert all(c.metadata["strategy"] == "semantic" for c in chunks)


def test_threshold_above_every_distance_keeps_one_topic_text_whole() -> None:
    chunks = chunk(TOPICS, chunk_size=512, threshold=1.5)
    assert [(c.start, c.end) for c in chunks] == [(0, len(TOPICS))]


def test_breaks_are_the_similarity_breaks_of_the_sentence_embeddings() -> None:
    # With merging off and a roomy cap, chunks start exactly at the breakpoints module's gaps.
    spans = split_sentences(TOPICS)
    vectors = get_embedder("static").embed([TOPICS[s:e] for s, e in spans])
    expected = similarity_breaks(vectors, window=1, percentile=60)
    assert len(expected) >= 3
    chunks = chunk(TOPICS, chunk_size=512, percentile=60, min_fill=0)
    assert [c.start for c in chunks] == [0] + [spans[i][0] for i in expected]
    # ...and the default min_fill merges the small groups back into topical neighbours.
    merged = chunk(TOPICS, chunk_size=512, percentile=60)
    assert len(merged) < len(chunks)
    assert CHANGE in {c.start for c in merged}


@pytest.mark.parametrize("size", [120, 170])
def test_a_group_over_the_cap_is_cut_at_its_most_dissimilar_gap(size: int) -> None:
    # No topic break (threshold above every distance), but the text needs two chunks: the cut
    # goes where the topic changes, not as far as the cap would reach (~8 sentences at 170).
    chunks = chunk(TOPICS, chunk_size=size, threshold=1.5)
    check_invariants(TOPICS, chunks, size)
    assert [c.start for c in chunks] == [0, CHANGE]
    assert chunks[1].metadata["break_reason"] == "size"
    assert chunks[1].metadata["break_distance"] > 0.8


def test_small_cap_holds_and_keeps_sentences_and_the_topic_boundary() -> None:
    for tokenizer, size in [("cl100k", 40), ("words", 24), ("chars", 160)]:
        chunks = chunk(TOPICS, chunk_size=size, tokenizer=tokenizer)
        check_invariants(TOPICS, chunks, size, tokenizer=tokenizer)
        assert len(chunks) > 2
        # Every sentence fits, so no chunk starts or ends inside one.
        assert {c.start for c in chunks} <= sentence_starts(TOPICS)
        assert {c.end for c in chunks} <= {e for _, e in split_sentences(TOPICS)}
        assert not any(c.start < CHANGE < c.end for c in chunks), tokenizer


def test_overlap_is_used_and_bounded() -> None:
    chunks = chunk(TOPICS, chunk_size=64, chunk_overlap=16)
    check_invariants(TOPICS, chunks, 64, overlap=16)
    assert any(b.start < a.end for a, b in pairwise(chunks))


def test_deterministic() -> None:
    text = "\n\n".join([TOPICS, " ".join(reversed(PASTA)), " ".join(ORBITS[::2])])
    first = [c.to_dict() for c in chunk(text, chunk_size=48, chunk_overlap=8)]
    second = [c.to_dict() for c in chunk(text, chunk_size=48, chunk_overlap=8)]
    assert first == second
    assert len(first) > 3


@pytest.mark.parametrize(("model", "path"), [("local", default_model_path()),
                                             ("static", bundled_model_path())])
def test_custom_model_folder_gives_the_same_chunks(model: str, path: str) -> None:
    custom = chunk(TOPICS, chunk_size=64, embedding_model=f"{model}:{path}")
    named = chunk(TOPICS, chunk_size=64, embedding_model=model)
    assert [(c.start, c.end) for c in custom] == [(c.start, c.end) for c in named]
    assert custom[0].metadata["embedding_model"] == f"{model}:{path}"


# --------------------------------------------------------------------------- long sentences


class Spy:
    """Wraps the real embedder and records what it is asked to embed."""

    def __init__(self) -> None:
        self.real = get_embedder("static")
        self.name = self.real.name
        self.calls: list[list[str]] = []

    def embed(self, texts: Any) -> Any:
        self.calls.append(list(texts))
        return self.real.embed(texts)


@pytest.fixture
def spy() -> Iterator[Spy]:
    recorder = Spy()
    # Injected through the core's seam, as any caller would install its own embedders.
    use_embedders(lambda spec: recorder)
    yield recorder
    use_embedders(chunkyard._default_embedders)


def test_one_long_sentence_is_capped_without_the_model(spy: Spy) -> None:
    text = " ".join(f"word{i}" for i in range(6000))  # one sentence, no full stop
    chunks = chunk(text, chunk_size=100)
    check_invariants(text, chunks, 100)
    assert len(chunks) > 10
    assert spy.calls == []
    assert all(c.metadata["break_reason"] in (None, "size") for c in chunks)


def test_long_sentence_among_others_is_capped_and_embedded_bounded(spy: Spy) -> None:
    long_sentence = "The pasta " + "and more pasta " * 30_000 + "is finally ready."
    text = " ".join([*PASTA[:3], long_sentence, *ORBITS])
    chunks = chunk(text, chunk_size=128)
    check_invariants(text, chunks, 128)
    texts = [t for call in spy.calls for t in call]
    assert max(map(len, texts)) <= semantic.EMBED_CHARS
    # 450 KB of one sentence: its head and tail only, not hundreds of pieces.
    assert len(texts) == len(PASTA[:3]) + len(ORBITS) + semantic.MAX_PIECES
    assert text.index(ORBITS[0]) in {c.start for c in chunks}


# --------------------------------------------------------------------------- remote endpoint


class EmbeddingServer(ThreadingHTTPServer):
    calls: list[dict[str, Any]]


class EmbeddingHandler(BaseHTTPRequestHandler):
    """An OpenAI-compatible /v1/embeddings answering with the real local model's vectors."""

    server: EmbeddingServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.calls.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
        )
        vectors = get_embedder("local").embed(body["input"])
        data = [{"object": "embedding", "index": i, "embedding": v.tolist()}
                for i, v in enumerate(vectors)]
        raw = json.dumps({"object": "list", "data": data[::-1], "model": body["model"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture
def server() -> Iterator[EmbeddingServer]:
    with serving(EmbeddingServer, EmbeddingHandler) as httpd:
        yield httpd


def test_openai_compatible_endpoint_matches_the_local_model(
    server: EmbeddingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(API_KEY_ENV, API_KEY)
    host, port = server.server_address[:2]
    url = f"http://{host!s}:{port}/v1"
    params = {"chunk_size": 40, "embedding_url": url, "embedding_api_model": "minilm"}
    remote = chunk(TOPICS, **params)
    local = chunk(TOPICS, chunk_size=40, embedding_model="local")
    check_invariants(TOPICS, remote, 40)
    assert [(c.start, c.end) for c in remote] == [(c.start, c.end) for c in local]
    for r, loc in zip(remote, local, strict=True):
        if loc.metadata["break_distance"] is None:
            assert r.metadata["break_distance"] is None
        else:
            assert r.metadata["break_distance"] == pytest.approx(
                loc.metadata["break_distance"], abs=2e-4)
    # All 12 sentences went out in one batched request, with the key as a bearer token.
    assert len(server.calls) == 1
    call = server.calls[0]
    assert call["path"] == "/v1/embeddings"
    assert call["auth"] == f"Bearer {API_KEY}"
    assert call["body"]["model"] == "minilm"
    assert call["body"]["input"] == PASTA + ORBITS
    name = remote[0].metadata["embedding_model"]
    assert name == f"openai:minilm@http://{host!s}:{port}"
    assert API_KEY not in json.dumps([c.to_dict() for c in remote])


def test_openai_compatible_endpoint_without_key_sends_no_header(
    server: EmbeddingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    host, port = server.server_address[:2]
    chunk(TOPICS, embedding_url=f"http://{host!s}:{port}", embedding_api_model="m")
    assert [c["auth"] for c in server.calls] == [None]


def test_unreachable_endpoint_is_a_chunking_error() -> None:
    with pytest.raises(ChunkingError, match="cannot reach embedding endpoint"):
        chunk(TOPICS, embedding_url="http://127.0.0.1:9/v1", embedding_api_model="m")


# --------------------------------------------------------------------------- extra and params


def test_missing_extra_is_a_clear_error_even_for_tiny_texts(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    monkeypatch.setattr(embeddings_choose, "_INSTANCES", OrderedDict())  # forget built embedders
    for text in [TOPICS, "One sentence.", ""]:
        with pytest.raises(ChunkingError) as caught:
            chunk(text, embedding_model="local")
        assert "pip install 'chunkyard[semantic]'" in str(caught.value)
    # The default static model needs none of it.
    assert len(chunk(TOPICS, chunk_size=512)) == 2
    # Choosing it fails; knowing about it does not.
    assert strategy_class("semantic").Params.model_json_schema()["properties"]


def test_registering_does_not_import_torch() -> None:
    code = ("import sys, chunkyard; from chunkyard.core.registry import list_strategies; "
            "names = [s.name for s in list_strategies()]; assert 'semantic' in names, names; "
            "assert 'torch' not in sys.modules and 'sentence_transformers' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"percentile": 10}, "percentile"),
        ({"percentile": 100}, "percentile"),
        ({"threshold": 2.5}, "threshold"),
        ({"threshold": -0.1}, "threshold"),
        ({"window": 0}, "window"),
        ({"window": 6}, "window"),
        ({"min_fill": 0.9}, "min_fill"),
        ({"embedding_model": "remote"}, "embedding_model"),
        ({"embedding_model": "local:"}, "embedding_model"),
        ({"embedding_url": "http://h:8080"}, "embedding_api_model"),
        ({"embedding_api_model": "m"}, "embedding_url"),
        ({"embedding_url": "ftp://h", "embedding_api_model": "m"}, "embedding_url"),
        ({"embedding_url": "http://u:secret@h", "embedding_api_model": "m"}, "embedding_url"),
        ({"embedding_url": "http://h", "embedding_api_model": "m",
          "embedding_model": "local:/x"}, "embedding_model"),
        ({"api_key": "sk-x"}, "api_key"),
        ({"chunk_size": 64, "chunk_overlap": 40}, "chunk_overlap"),
    ],
)
def test_bad_params_name_their_field(params: dict[str, Any], field: str) -> None:
    with pytest.raises(ChunkingError, match=field) as caught:
        create_strategy("semantic", params)
    assert "secret" not in str(caught.value)


def test_every_param_is_described_for_the_form() -> None:
    schema = strategy_class("semantic").Params.model_json_schema()
    for name, prop in schema["properties"].items():
        assert prop.get("description"), name
    assert schema["properties"]["percentile"]["default"] == 90


# --------------------------------------------------------------------------- properties

SENTENCES = st.sampled_from(
    [*PASTA, *ORBITS, "Short.", "Why?", "中文句子。", "😀 " * 30, "x" * 300, "e.g. this one",
     "\n\n", "\n", "  ", "- item\n", "# Heading\n", "a, b; c: d"]
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(SENTENCES, max_size=40), data=st.data())
def test_invariants_on_sentence_soup(parts: list[str], data: st.DataObject) -> None:
    text = " ".join(parts)
    tokenizer = data.draw(st.sampled_from(["cl100k", "words", "chars"]))
    size = data.draw(st.sampled_from([16, 32, 64, 256]))
    overlap = data.draw(st.sampled_from([0, 3, size // 2]))
    extra = data.draw(st.sampled_from([{}, {"percentile": 50, "min_fill": 0},
                                       {"threshold": 0.3, "window": 3}, {"min_fill": 0.5}]))
    params = {"chunk_size": size, "chunk_overlap": overlap, "tokenizer": tokenizer, **extra}
    chunks = chunk(text, **params)
    check_invariants(text, chunks, size, overlap, tokenizer)
    distances = [c.metadata["break_distance"] for c in chunks]
    assert all(d is None or 0.0 <= d <= 2.0 for d in distances)
    assert [c.to_dict() for c in chunk(text, **params)] == [c.to_dict() for c in chunks]

