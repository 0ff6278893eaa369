"""An OpenAI-compatible embeddings endpoint (`POST /v1/embeddings`), over urllib only."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

import numpy as np

from chunkyard.core.embeddings import FloatMatrix, is_http_url, normalise
from chunkyard.core.types import ChunkingError


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: urllib would resend the Authorization header to wherever they point."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _strip_userinfo(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


class OpenAIEmbedder:
    """Embeds through an OpenAI-compatible `POST /v1/embeddings` endpoint, with urllib only.

    `base_url` may end with or without `/v1`. Texts go out in batches of `batch_size`; rows come
    back in input order (sorted by the response's `index` field) and L2-normalised. Every failure
    is a one-line `ChunkingError` naming the URL and, for HTTP errors, the status; the API key is
    never part of a message or of `repr`.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        batch_size: int = 128,
        timeout: float = 60,
    ) -> None:
        base = base_url.strip().rstrip("/")
        if base.endswith("/v1"):
            base = base[: -len("/v1")]
        if not is_http_url(base):
            raise ChunkingError(
                f"embedding endpoint must be an http(s) URL, got {_strip_userinfo(base_url)!r}"
            )
        if not model:
            raise ChunkingError("embedding endpoint needs a model name")
        if batch_size < 1:
            raise ChunkingError(f"batch_size must be at least 1, got {batch_size}")
        if timeout <= 0:
            raise ChunkingError(f"timeout must be positive, got {timeout}")
        self.base_url = base
        self.url = f"{base}/v1/embeddings"
        self.model = model
        self.batch_size = batch_size
        self.timeout = float(timeout)
        self._api_key = api_key or None
        self._display_url = _strip_userinfo(self.url)
        self.name = f"openai:{model}@{_strip_userinfo(base)}"

    def __repr__(self) -> str:
        return (
            f"OpenAIEmbedder(base_url={_strip_userinfo(self.base_url)!r}, model={self.model!r}, "
            f"batch_size={self.batch_size}, timeout={self.timeout})"
        )

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        if not texts:
            # The dimension is unknown without asking the server, and asking costs a request.
            return np.zeros((0, 0), dtype=np.float32)
        items = list(texts)
        blocks = [
            self._embed_batch(items[i : i + self.batch_size])
            for i in range(0, len(items), self.batch_size)
        ]
        dims = {block.shape[1] for block in blocks}
        if len(dims) != 1:
            raise ChunkingError(
                f"embedding endpoint {self._display_url} returned vectors of sizes {sorted(dims)}"
            )
        return normalise(np.concatenate(blocks, axis=0))

    def _fail(self, what: str) -> ChunkingError:
        text = " ".join(what.split())
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return ChunkingError(text)

    def _timed_out(self) -> ChunkingError:
        return self._fail(
            f"embedding request to {self._display_url} timed out after {self.timeout:g} s"
        )

    def _embed_batch(self, batch: list[str]) -> FloatMatrix:
        body = json.dumps({"model": self.model, "input": batch}).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        where = self._display_url
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                detail = _error_detail(exc)
            suffix = f": {detail}" if detail else ""
            raise self._fail(
                f"embedding request to {where} failed with HTTP {exc.code} {exc.reason}{suffix}"
            ) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise self._timed_out() from None
            raise self._fail(f"cannot reach embedding endpoint {where}: {exc.reason}") from None
        except TimeoutError:
            raise self._timed_out() from None
        except (OSError, http.client.HTTPException) as exc:
            raise self._fail(f"embedding request to {where} failed: {exc}") from None
        try:
            payload = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise self._fail(f"embedding endpoint {where} did not return JSON") from None
        return self._parse(payload, len(batch))

    def _parse(self, payload: Any, expected: int) -> FloatMatrix:
        where = self._display_url
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list):
            raise self._fail(f"embedding endpoint {where} returned no 'data' list")
        rows: list[Any] = [None] * expected
        for position, item in enumerate(data):
            if not isinstance(item, dict) or "embedding" not in item:
                raise self._fail(f"embedding endpoint {where} returned an item without 'embedding'")
            # Servers may answer out of order; `index` is the only reliable tie to the input.
            index = item.get("index", position)
            if not isinstance(index, int) or not 0 <= index < expected or rows[index] is not None:
                raise self._fail(
                    f"embedding endpoint {where} returned a bad or repeated index {index!r}"
                )
            rows[index] = item["embedding"]
        if any(row is None for row in rows):
            raise self._fail(
                f"embedding endpoint {where} returned {len(data)} embeddings for {expected} inputs"
            )
        try:
            matrix = np.asarray(rows, dtype=np.float32)
        except (TypeError, ValueError):
            raise self._fail(f"embedding endpoint {where} returned non-numeric vectors") from None
        if matrix.ndim != 2 or matrix.shape[1] == 0 or not np.isfinite(matrix).all():
            raise self._fail(f"embedding endpoint {where} returned malformed vectors")
        return matrix


def _error_detail(exc: urllib.error.HTTPError) -> str:
    """The server's own error message, if it sent a short one, to say why (e.g. unknown model)."""
    try:
        raw = exc.read(4096)
    except OSError:
        return ""
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return ""
    error = payload.get("error") if isinstance(payload, dict) else None
    message = error.get("message") if isinstance(error, dict) else error
    if not isinstance(message, str):
        return ""
    return " ".join(message.split())[:200]
