"""The student tagger: a small MLP, distilled from the teacher's labels, that tags a venue from its sentence
embedding and cheap evidence. Once trained it tags new venues (a Places fallback city, a venue added later) with a
few matrix products and no LLM call.

Design — one tag-conditioned scorer shared by all tags. For each (venue, tag) pair the MLP sees:
  z        cosine(venue embedding, tag description embedding), standardised per tag on the training set;
  kw       whether one of the tag's keywords occurs in the venue's text;
  z·notext the same cosine when the venue has no description (bare names are weak evidence), and notext itself;
  venue    category one-hot and price-level one-hot;
  tag      the tag's one-hot (so the scorer can learn a per-tag bias and per-tag use of the evidence);
and outputs p(tag applies). Sharing one scorer across the 56 tags turns n venues into 56·n training rows, which is
what lets a few thousand labelled venues teach rare tags; an output-per-tag MLP on the same inputs reached only
≈ 0.82 held-out micro-F1 against the offline teacher where this design reaches ≈ 0.95 (bench/seed_bench.py).

Training uses scikit-learn's MLPClassifier (binary, logistic output); serving is a numpy forward pass over the
exported weights, so neither sklearn nor torch is needed where it runs. Decoding mirrors the teacher: tags that
cannot apply to the venue's category are masked, tags with p >= threshold are kept (at most 6), and the most
probable allowed tag when none is. The threshold is chosen on a validation split, never on the held-out one.

    python -m shared.domains.travel.catalogue.student train --cities seattle,san-francisco,manhattan

re-reads those cities' sources, takes the teacher's tags and text vectors of the seeded nodes from Qdrant, trains,
reports held-out agreement with the teacher and writes <model_dir>/vibe_student.npz.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared.domains.travel.catalogue.taxonomy import CATEGORIES, Taxonomy, get_taxonomy
from shared.settings import get_settings

STUDENT_VERSION = "student-tagmlp-3"
MAX_TAGS = 6
THRESHOLD = 0.3  # default decision threshold; train_student picks the best one on a validation split
PRICE_SLOTS = (None, 0, 1, 2, 3, 4)


def student_path() -> Path:
    return get_settings().model_dir / "vibe_student.npz"


def category_mask(taxonomy: Taxonomy, categories: list[str | None]) -> np.ndarray:
    return np.array([[t.applies_to(c) for t in taxonomy.tags] for c in categories], dtype=bool).reshape(
        len(categories), len(taxonomy.tags)
    )


def venue_evidence(venues, taxonomy: Taxonomy) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keyword hits (n, T), no-description flag (n,), venue one-hots (n, 12))."""
    from shared.domains.travel.catalogue.teacher import evidence_text

    n, t = len(venues), len(taxonomy.tags)
    keywords = np.array([[1.0 if tag.keyword_hits(evidence_text(v)) else 0.0 for tag in taxonomy.tags]
                         for v in venues], dtype=np.float32).reshape(n, t)
    no_text = np.array([0.0 if v.description else 1.0 for v in venues], dtype=np.float32)
    onehots = np.array([[1.0 if v.category == c else 0.0 for c in CATEGORIES] +
                        [1.0 if v.price_level == k else 0.0 for k in PRICE_SLOTS] for v in venues],
                       dtype=np.float32).reshape(n, len(CATEGORIES) + len(PRICE_SLOTS))
    return keywords, no_text, onehots


def features(venues, text_embeddings: np.ndarray, tag_matrix: np.ndarray, sim_mean: np.ndarray,
             sim_std: np.ndarray, taxonomy: Taxonomy) -> np.ndarray:
    """Pair features, shape (n_venues, n_tags, n_features) — see the module docstring."""
    n, t = len(venues), len(taxonomy.tags)
    z = ((np.asarray(text_embeddings, dtype=np.float32) @ tag_matrix.T) - sim_mean) / sim_std
    keywords, no_text, onehots = venue_evidence(venues, taxonomy)
    per_pair = np.stack([z, keywords, z * no_text[:, None], np.repeat(no_text[:, None], t, 1)], axis=2)
    venue_part = np.repeat(onehots[:, None, :], t, 1)
    tag_part = np.broadcast_to(np.eye(t, dtype=np.float32), (n, t, t))
    return np.concatenate([per_pair, venue_part, tag_part], axis=2).astype(np.float32)


def decode(probs: np.ndarray, mask: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    p = np.where(mask, probs, -1.0)
    out = p >= threshold
    for i in np.where(out.sum(1) > MAX_TAGS)[0]:
        keep = np.argsort(-p[i])[:MAX_TAGS]
        out[i] = False
        out[i, keep] = True
    empty = ~out.any(1)
    out[empty, p[empty].argmax(1)] = True
    return out


def agreement(pred: np.ndarray, gold: np.ndarray) -> dict[str, float]:
    """Agreement of the student's tag sets with the teacher's: micro P/R/F1 over (venue, tag) pairs, macro F1 over
    tags, label accuracy (share of all venue x tag decisions that agree — inflated by the many easy negatives) and
    exact match (the whole tag set equal)."""
    tp = float((pred & gold).sum())
    fp = float((pred & ~gold).sum())
    fn = float((~pred & gold).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    per_tag = []
    for j in range(gold.shape[1]):
        if gold[:, j].any():
            t = float((pred[:, j] & gold[:, j]).sum())
            d = float(pred[:, j].sum() + gold[:, j].sum())
            per_tag.append(2 * t / d if d else 0.0)
    return {
        "micro_f1": round(f1, 4),
        "micro_precision": round(precision, 4),
        "micro_recall": round(recall, 4),
        "macro_f1": round(float(np.mean(per_tag)) if per_tag else 0.0, 4),
        "label_accuracy": round(float((pred == gold).mean()), 4),
        "exact_match": round(float((pred == gold).all(1).mean()), 4),
        "n": int(len(gold)),
    }


@dataclass
class StudentTagger:
    weights: list[np.ndarray]
    biases: list[np.ndarray]
    tag_matrix: np.ndarray  # (T, 384) tag-description embeddings, frozen with the model
    sim_mean: np.ndarray    # (T,) per-tag cosine mean and deviation on the training set
    sim_std: np.ndarray
    tag_ids: list[str]
    meta: dict

    name = "student"

    def probabilities(self, pair_features: np.ndarray) -> np.ndarray:
        n, t, f = pair_features.shape
        h = pair_features.reshape(n * t, f)
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            h = np.maximum(h @ w + b, 0.0)
        logits = np.clip(h @ self.weights[-1] + self.biases[-1], -40, 40).reshape(n, t)
        return 1.0 / (1.0 + np.exp(-logits))

    def predict(self, venues, text_embeddings: np.ndarray, taxonomy: Taxonomy | None = None) -> list[list[str]]:
        taxonomy = taxonomy or get_taxonomy()
        if taxonomy.ids != self.tag_ids:
            raise ValueError("the student was trained for another taxonomy version; retrain it")
        if not venues:
            return []
        x = features(venues, text_embeddings, self.tag_matrix, self.sim_mean, self.sim_std, taxonomy)
        chosen = decode(self.probabilities(x), category_mask(taxonomy, [v.category for v in venues]),
                        float(self.meta.get("threshold", THRESHOLD)))
        return [[self.tag_ids[j] for j in np.where(row)[0]] for row in chosen]

    def tag(self, venues, text_embeddings: np.ndarray):
        """Same interface as the teachers (pipeline.seed_city uses whichever it is given)."""
        from shared.domains.travel.catalogue.teacher import TagResult

        provenance = {"tagger": self.name, "tagger_version": self.version,
                      "trained_on": self.meta.get("teacher", "unknown")}
        return [TagResult(tags, dict(provenance)) for tags in self.predict(venues, text_embeddings)]

    @property
    def version(self) -> str:
        return str(self.meta.get("version", STUDENT_VERSION))

    def save(self, path: Path | None = None) -> Path:
        path = path or student_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f"w{i}": w for i, w in enumerate(self.weights)} | {f"b{i}": b for i, b in enumerate(self.biases)}
        np.savez(path, tag_ids=np.array(self.tag_ids), meta=np.array(json.dumps(self.meta)),
                 layers=np.array(len(self.weights)), tag_matrix=self.tag_matrix, sim_mean=self.sim_mean,
                 sim_std=self.sim_std, **arrays)
        return path

    @classmethod
    def load(cls, path: Path | None = None) -> "StudentTagger":
        path = path or student_path()
        if not path.exists():
            raise FileNotFoundError(
                f"no student tagger at {path}; train one with `python -m shared.domains.travel.catalogue.student train`"
            )
        with np.load(path, allow_pickle=False) as data:
            n = int(data["layers"])
            return cls([data[f"w{i}"] for i in range(n)], [data[f"b{i}"] for i in range(n)], data["tag_matrix"],
                       data["sim_mean"], data["sim_std"], [str(t) for t in data["tag_ids"]],
                       json.loads(str(data["meta"])))


def train_student(venues, text_embeddings: np.ndarray, y: np.ndarray, *, tag_matrix: np.ndarray,
                  taxonomy: Taxonomy | None = None, hidden: int = 64, alpha: float = 1e-4, seed: int = 0,
                  heldout_fraction: float = 0.2, validation_fraction: float = 0.1, max_iter: int = 60,
                  teacher: str = "unknown") -> tuple[StudentTagger, dict]:
    """Fit on the teacher's labels and report agreement with the teacher on a held-out split it never saw.

    The split is by venue and three-way: train (fits the weights and the similarity standardisation),
    validation (picks the decision threshold that maximises micro-F1), held-out (reported, touched once)."""
    import warnings

    from sklearn.neural_network import MLPClassifier

    taxonomy = taxonomy or get_taxonomy()
    e = np.asarray(text_embeddings, dtype=np.float32)
    tag_matrix = np.asarray(tag_matrix, dtype=np.float32)
    y = np.asarray(y, dtype=bool)
    order = np.random.default_rng(seed).permutation(len(e))
    n_held = max(1, int(round(len(e) * heldout_fraction)))
    n_val = max(1, int(round(len(e) * validation_fraction)))
    held, val, train = order[:n_held], order[n_held : n_held + n_val], order[n_held + n_val :]
    sims = e[train] @ tag_matrix.T
    sim_mean, sim_std = sims.mean(0), np.clip(sims.std(0), 1e-6, None)
    x = features(venues, e, tag_matrix, sim_mean, sim_std, taxonomy)
    n_feat = x.shape[2]
    clf = MLPClassifier(hidden_layer_sizes=(hidden,), activation="relu", alpha=alpha, batch_size=256,
                        learning_rate_init=1e-3, max_iter=max_iter, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter is expected and harmless here
        clf.fit(x[train].reshape(-1, n_feat), y[train].reshape(-1).astype(int))
    model = StudentTagger([w.astype(np.float32) for w in clf.coefs_], [b.astype(np.float32) for b in clf.intercepts_],
                          tag_matrix, sim_mean.astype(np.float32), sim_std.astype(np.float32), taxonomy.ids, {})

    def scored(rows: np.ndarray, threshold: float) -> dict:
        mask = category_mask(taxonomy, [venues[i].category for i in rows])
        return agreement(decode(model.probabilities(x[rows]), mask, threshold), y[rows])

    threshold = max((0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5), key=lambda t: (scored(val, t)["micro_f1"], -abs(t - 0.5)))
    model.meta = {"version": STUDENT_VERSION, "taxonomy_version": taxonomy.version, "threshold": threshold,
                  "teacher": teacher, "iterations": int(clf.n_iter_)}
    metrics = {"heldout": scored(held, threshold), "validation": scored(val, threshold),
               "train_size": int(len(train)), "validation_size": int(len(val)), "heldout_size": int(len(held)),
               "hidden": hidden, "alpha": alpha, "threshold": threshold, "seed": seed, "teacher": teacher,
               "parameters": int(sum(w.size for w in model.weights) + sum(b.size for b in model.biases))}
    model.meta["metrics"] = metrics
    return model, metrics


def labels_matrix(taxonomy: Taxonomy, tag_lists: list[list[str]]) -> np.ndarray:
    index = taxonomy.index()
    y = np.zeros((len(tag_lists), len(index)), dtype=bool)
    for i, tags in enumerate(tag_lists):
        for t in tags:
            if t in index:
                y[i, index[t]] = True
    return y


def load_teacher_labels(city_ids: list[str], data_dir: Path | None = None, qdrant=None):
    """(venues, text vectors, teacher tags, teacher name) for seeded cities: venues are re-read from the sources
    (cheap), vectors and tags come from each city's Qdrant collection, matched by the deterministic node id."""
    from shared.adapters.qdrant import get_qdrant
    from shared.domains.travel.catalogue.pipeline import collect_venues
    from shared.domains.travel.catalogue.vectors import TEXT_VECTOR, collection_name

    client = qdrant or get_qdrant()
    venues, xs, tags, teachers = [], [], [], set()
    for city_id in city_ids:
        merged, _ = collect_venues(city_id, data_dir=data_dir)
        by_id = {v.id: v for v in merged}
        points = client.retrieve(collection_name(city_id), ids=list(by_id), with_payload=True,
                                 with_vectors=[TEXT_VECTOR])
        for p in points:
            tagger = str(p.payload.get("tagger", ""))
            if tagger == "student" or not p.payload.get("tags"):
                continue  # only the teacher's labels, never the student's own
            teachers.add(tagger)
            venues.append(by_id[str(p.id)])
            xs.append(p.vector[TEXT_VECTOR])
            tags.append(list(p.payload["tags"]))
    return venues, np.asarray(xs, dtype=np.float32).reshape(-1, 384), tags, "+".join(sorted(teachers))


def main(argv: list[str] | None = None) -> int:
    from shared.domains.travel.catalogue.teacher import tag_texts
    from shared.engine.embeddings import encode

    parser = argparse.ArgumentParser(prog="python -m shared.domains.travel.catalogue.student")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train on the teacher's labels of seeded cities")
    train.add_argument("--cities", required=True, help="comma-separated ids of cities already seeded")
    args = parser.parse_args(argv)
    taxonomy = get_taxonomy()
    venues, x, tags, teacher = load_teacher_labels([c.strip() for c in args.cities.split(",") if c.strip()])
    if len(venues) < 50:
        print(f"student: only {len(venues)} teacher-labelled venues found; seed the cities first "
              "(python -m jobs.seed_city.main --city ...)")
        return 1
    model, metrics = train_student(venues, x, labels_matrix(taxonomy, tags),
                                   tag_matrix=encode(tag_texts(taxonomy)), taxonomy=taxonomy, teacher=teacher)
    path = model.save()
    print(f"student: wrote {path}; held-out agreement with the teacher: {json.dumps(metrics['heldout'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
