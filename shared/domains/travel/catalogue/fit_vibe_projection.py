"""Fit the two committed artifacts the catalogue's offline maths depends on (run once; re-run only when the
taxonomy or the encoder changes):

    python -m shared.domains.travel.catalogue.fit_vibe_projection

1. shared/engine/embeddings/vibe_projection_<version>.npz — the 384 -> 64 PCA projection (see engine/embeddings/vibe.py).
2. offline_teacher_calibration.npz (next to this module) — per-tag mean and standard deviation of the cosine between
   venue texts and each tag description, so the offline teacher can ask "is this venue unusually close to the tag?"
   instead of trusting raw MiniLM cosines, which are inflated for some tags (every bar is 0.45 from "wine").

The corpus: every Wikivoyage venue listing that has a description (all cities), every Michelin description, and the
taxonomy's tag descriptions repeated so they weigh like a city. Both artifacts record the corpus size, the taxonomy
version and the encoder export version; the fit is deterministic (sorted corpus, SVD, sign-fixed axes).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from shared.domains.travel.catalogue.cities import City
from shared.domains.travel.catalogue.merge import filter_records, merge_cluster
from shared.domains.travel.catalogue.sources import make_source
from shared.domains.travel.catalogue.taxonomy import get_taxonomy
from shared.domains.travel.catalogue.teacher import CALIBRATION_FILE, tag_texts
from shared.engine.embeddings import encode
from shared.engine.embeddings.model_files import EXPORT_VERSION
from shared.engine.embeddings.vibe import PROJECTION_VERSION, artifact_path, fit_projection
from shared.settings import get_settings

TAG_REPEAT = 10


def corpus_texts(data_dir: Path) -> list[str]:
    texts: set[str] = set()
    for source_name in ("wikivoyage", "michelin"):
        source = make_source(source_name, data_dir)
        if source.available() is not None:
            continue
        for city_name in sorted(source.city_names()):
            city = City(id="corpus", name=city_name, names={source_name: (city_name,)})
            kept, _ = filter_records(list(source.read(city)))
            for record in kept:
                if record.description:
                    texts.add(merge_cluster("corpus", [record]).embedding_text())
    return sorted(texts)


def pairwise_rank_correlation(full: np.ndarray, reduced: np.ndarray, n_pairs: int = 20000, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, len(full), n_pairs), rng.integers(0, len(full), n_pairs)
    keep = i != j
    a = (full[i[keep]] * full[j[keep]]).sum(1)
    b = (reduced[i[keep]] * reduced[j[keep]]).sum(1)
    ra, rb = a.argsort().argsort(), b.argsort().argsort()
    return float(np.corrcoef(ra, rb)[0, 1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="fit the vibe projection and the offline teacher's calibration")
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    data_dir = args.data_dir or get_settings().data_dir
    taxonomy = get_taxonomy()

    texts = corpus_texts(data_dir)
    if len(texts) < 500:
        print(f"fit: only {len(texts)} venue texts under {data_dir}; point CONCIERGE_DATA_DIR at the full datasets")
        return 1
    print(f"fit: embedding {len(texts)} venue texts + {len(taxonomy.tags)} tag descriptions", flush=True)
    t0 = time.perf_counter()
    venue_emb = encode(texts)
    tag_emb = encode(tag_texts(taxonomy))
    print(f"fit: embedded in {time.perf_counter() - t0:.1f}s", flush=True)

    # Hold out every 10th text to measure how well 64-d cosines preserve the 384-d ranking.
    idx = np.arange(len(texts))
    train, held = idx[idx % 10 != 0], idx[idx % 10 == 0]
    fit_matrix = np.vstack([venue_emb[train]] + [tag_emb] * TAG_REPEAT)
    projection = fit_projection(
        fit_matrix,
        meta={"corpus_venue_texts": int(len(train)), "tag_texts": len(taxonomy.tags), "tag_repeat": TAG_REPEAT,
              "taxonomy_version": taxonomy.version, "encoder": EXPORT_VERSION},
    )
    rho = pairwise_rank_correlation(venue_emb[held], projection.project(venue_emb[held]))
    projection.meta["heldout_pairwise_cosine_spearman"] = round(rho, 4)
    projection.meta["heldout_texts"] = int(len(held))
    path = projection.save(artifact_path(PROJECTION_VERSION))
    print(f"fit: wrote {path} (explained variance {projection.meta['explained_variance']:.3f}, "
          f"held-out cosine rank correlation {rho:.3f})")

    sims = venue_emb @ tag_emb.T
    np.savez(
        CALIBRATION_FILE,
        tag_ids=np.array(taxonomy.ids),
        mean=sims.mean(0).astype(np.float32),
        std=sims.std(0).astype(np.float32),
        taxonomy_version=np.array(taxonomy.version),
        embedding_version=np.array(EXPORT_VERSION),
        n_texts=np.array(len(texts)),
    )
    print(f"fit: wrote {CALIBRATION_FILE} ({len(texts)} texts x {len(taxonomy.tags)} tags)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
