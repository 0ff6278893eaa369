"""The bundled static embedding model: the model2vec method run with numpy, no torch."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chunkyard import ChunkingError
from chunkyard.core.breakpoints import gap_distances
from chunkyard.core.sentences import split_sentences
from chunkyard.embedding import StaticEmbedder, bundled_model_path, get_embedder
from chunkyard.embedding.static import read_safetensors

EVAL_CORPUS = Path(__file__).resolve().parents[2] / "bench/evaldata/chroma-chunking/corpora"
SENTENCES = [
    "The cat sat on the mat.",
    "",
    "Stock markets fell sharply on Tuesday after the report.",
    "A feline rested on a small rug.",
    "[UNK] \u00c6\u00d0 \U0001d518 zzqx",
    "Quarterly revenue grew 5% year on year.",
    "   ",
]


def test_matches_model2vec_on_the_same_folder() -> None:
    # model2vec's own StaticModel is the reference implementation of the method.
    model2vec = pytest.importorskip("model2vec")
    reference = model2vec.StaticModel.from_pretrained(bundled_model_path()).encode(SENTENCES * 40)
    ours = get_embedder("static").embed(SENTENCES * 40)
    assert ours.shape == reference.shape == (280, 256)
    np.testing.assert_allclose(ours, reference, atol=1e-3)


def test_rows_are_unit_length_and_text_without_tokens_is_zero() -> None:
    vectors = get_embedder("static").embed(SENTENCES)
    norms = np.linalg.norm(vectors, axis=1)
    assert norms[1] == norms[6] == 0.0
    np.testing.assert_allclose(norms[[0, 2, 3, 4, 5]], 1.0, rtol=1e-5)
    assert get_embedder("static").embed([]).shape == (0, 256)
    # Meaning, not spelling: the two sentences about a cat are the closest pair.
    sims = vectors @ vectors.T
    assert sims[0, 3] > max(sims[0, 2], sims[0, 5], sims[3, 2], sims[3, 5])


def test_long_inputs_are_summed_in_steps_without_changing_the_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chunkyard.embedding import static

    texts = [" ".join(SENTENCES) * k for k in range(1, 30)]
    whole = get_embedder("static").embed(texts)
    monkeypatch.setattr(static, "_TOKENS_PER_STEP", 7)
    np.testing.assert_allclose(get_embedder("static").embed(texts), whole, atol=1e-6)


def test_gaps_agree_with_the_contextual_model_it_was_distilled_from() -> None:
    # On real prose the static model's gap distances rank like MiniLM's, and its strongest
    # breaks are the teacher's far more often than chance (measured: rank correlation 0.66,
    # 39 of the top 81 shared where chance gives 8). How well its chunks retrieve is measured
    # by bench/retrieval.py.
    pytest.importorskip("sentence_transformers")
    text = (EVAL_CORPUS / "wikitexts.md").read_text(encoding="utf-8")
    sentences = [text[s:e] for s, e in split_sentences(text)]
    static = gap_distances(get_embedder("static").embed(sentences), 1)
    teacher = gap_distances(get_embedder("local").embed(sentences), 1)
    ranks = [np.argsort(np.argsort(d)) for d in (static, teacher)]
    assert np.corrcoef(*ranks)[0, 1] > 0.6
    top = int(len(static) * 0.1)
    shared = set(np.argsort(static)[-top:]) & set(np.argsort(teacher)[-top:])
    assert len(shared) >= 4 * (top * 0.1)


def test_semantic_runs_with_torch_and_sentence_transformers_absent(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['sentence_transformers'] = None\n"
        "import chunkyard\n"
        "text = ' '.join(['Pasta cooks in salted boiling water for ten minutes.'] * 6 + "
        "['A satellite in low orbit circles the Earth every ninety minutes.'] * 6)\n"
        "chunks = chunkyard.chunk_text(text, 'semantic', chunk_size=512)\n"
        "assert chunks and all(c.metadata['embedding_model'] == 'static' for c in chunks)\n"
        "assert 'torch' not in [m for m, v in sys.modules.items() if v is not None]\n"
        "print(len(chunks))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == 2


def test_a_folder_without_the_model_files_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ChunkingError, match=r"lacks model\.safetensors, tokenizer\.json"):
        StaticEmbedder(str(tmp_path))
    (tmp_path / "tokenizer.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"\x00")
    with pytest.raises(ChunkingError, match="cannot load the static embedding model"):
        StaticEmbedder(str(tmp_path)).embed(["x"])


def test_safetensors_reader_reads_what_the_format_says(tmp_path: Path) -> None:
    import json

    data = np.arange(6, dtype=np.float16).reshape(2, 3)
    header = json.dumps({"embeddings": {"dtype": "F16", "shape": [2, 3],
                                        "data_offsets": [0, data.nbytes]},
                         "__metadata__": {"format": "np"}}).encode()
    path = tmp_path / "m.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + data.tobytes())
    np.testing.assert_array_equal(read_safetensors(str(path))["embeddings"], data)
    path.write_bytes(struct.pack("<Q", 10_000) + header)
    with pytest.raises(ValueError, match="header length"):
        read_safetensors(str(path))


def test_tokenizing_by_distinct_words_gives_the_tokenizers_own_ids() -> None:
    # Words are split where BERT's normaliser puts whitespace; control characters it deletes
    # (form feed, \x1c, \x85) join their neighbours in both paths.
    from chunkyard.embedding import static

    texts = ["Caf\u00e9 na\u00efve r\u00e9sum\u00e9\u2028next\u3000line", "ab\x0ccd ef\x1cgh\x85ij",
             "\u6f22\u5b57\u304b\u306a mixed \u4e2d\u6587text", "tabs\tand\r\nreturns  \xa0 nbsp",
             "hyphen-ated, punct(uation)! \u00bfQu\u00e9?", "\ufffd\x00 zero and replacement",
             "supercalifragilisticexpialidocious " * 3, ""]
    model = static._MODELS.get(static.bundled_model_path())
    assert model.by_words
    by_words = model.token_ids(texts)
    encodings = model.tokenizer.encode_batch_fast(texts, add_special_tokens=False)
    per_text = [[i for i in e.ids if i != model.unknown_id] for e in encodings]
    assert by_words == ([i for ids in per_text for i in ids], [len(ids) for ids in per_text])
