"""POST /recommend sizes chunks for the embedding model named (or its input limit)."""

from __future__ import annotations

from api_helpers import API, Api, assert_error, user_headers

REPORT = "# Annual report\n\n" + "\n\n".join(
    f"## Segment {i}\n\nRevenue in segment {i} rose to {100 + i} million on pricing. " * 3
    for i in range(200)
)


def test_recommend_for_an_embedding_model(api: Api) -> None:
    headers = user_headers(api)

    def pick(**fields: object) -> dict[str, object]:
        response = api.client.post(
            f"{API}/recommend", json={"filename": "report.md", "text": REPORT, **fields},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"strategy", "params", "reason"}
        return body  # type: ignore[no-any-return]

    default = pick()
    minilm = pick(embedding_model="all-MiniLM-L6-v2")
    assert default["params"] == minilm["params"]
    assert minilm["params"]["chunk_size"] <= 204  # type: ignore[index]
    assert "256 word pieces" in str(minilm["reason"])
    large = pick(embedding_model="text-embedding-3-large")
    assert large["params"]["chunk_size"] > minilm["params"]["chunk_size"]  # type: ignore[index]
    capped = pick(embedding_max_tokens=64)
    assert capped["params"]["chunk_size"] < 64  # type: ignore[index]
    assert "64" in str(capped["reason"])
    for bad in ({"embedding_max_tokens": 0}, {"embedding_max_tokens": "many"},
                {"embedding_model": ""}):
        response = api.client.post(
            f"{API}/recommend", json={"filename": "report.md", **bad}, headers=headers
        )
        assert_error(response, 422)
