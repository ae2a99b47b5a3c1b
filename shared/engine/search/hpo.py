"""A small Optuna study over hpo.yaml's space, scored on the SciFact validation split (never on test).

    python -m shared.engine.search.hpo [--trials 4] [--out bench/results/search_hpo.json]

Each trial trains MoCo in-process (vertex.trainer.moco.train) on the train-fit split for study.epochs, encodes
the validation queries (query tower) and a validation corpus (document tower), builds the trial's HNSW index and
scores nDCG@10 of the HNSW results. Its HNSW recall@10 against exact search is a constraint
(Trial.set_constraint, which TPE honours): a trial below study.hnsw_recall_floor is infeasible whatever its nDCG, so efSearch and M are
chosen for quality at the recall we promise, not traded against it.

Why a reduced validation corpus: encoding all 5,183 abstracts with a fresh encoder costs about five minutes on
2 cores, longer than the trial's training. The corpus is every validation positive, the BM25 top 10 of every
validation query (the distractors that matter) and study.eval_random_docs random documents, fixed by seed, so
every trial is scored on the same documents; absolute values are higher than on the full corpus, the ranking of
configurations is what is used.

The first trial is the declared defaults (enqueued), so the best trial is never worse on validation than what
the bench would use without a study. Every finished trial is appended to the output JSON as soon as it ends.
torch and optuna are imported here only: this module belongs to the offline tooling, not to serving.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from shared.engine.search import metrics
from shared.engine.search.config import HPO_FILE, declared_defaults, load_hpo
from shared.settings import REPO_ROOT

DEFAULT_OUT = REPO_ROOT / "bench" / "results" / "search_hpo.json"


def suggest(trial, space: dict) -> dict:
    params = {}
    for name, spec in space.items():
        if spec["type"] == "float":
            params[name] = trial.suggest_float(name, spec["low"], spec["high"], log=bool(spec.get("log")))
        elif spec["type"] == "int":
            params[name] = trial.suggest_int(name, spec["low"], spec["high"], log=bool(spec.get("log")))
        elif spec["type"] == "categorical":
            params[name] = trial.suggest_categorical(name, spec["choices"])
        else:
            raise ValueError(f"hpo.yaml: {name} has unknown type {spec['type']!r}")
    return params


def validation_corpus(collection, val_qrels, n_random: int, seed: int = 0) -> list[int]:
    """Corpus rows of the reduced validation corpus (see the module docstring), sorted."""
    from shared.engine.search.bm25 import BM25Retriever

    qids = metrics.evaluated_queries(val_qrels)
    row_of = {d: i for i, d in enumerate(collection.doc_ids)}
    rows = {row_of[d] for q in qids for d, g in val_qrels[q].items() if g > 0}
    bm25_rows, _ = BM25Retriever(collection.doc_texts()).retrieve([collection.queries[q] for q in qids], k=10)
    rows |= set(bm25_rows.ravel().tolist())
    rest = np.array(sorted(set(range(len(collection.documents))) - rows))
    rng = np.random.default_rng(seed)
    rows |= set(rng.choice(rest, size=min(n_random, len(rest)), replace=False).tolist())
    return sorted(rows)


def run_study(n_trials: int, out: Path, log=print) -> dict:
    import optuna

    from shared.engine.search.index import HNSWIndex, HNSWParams, recall_vs_exact
    from shared.engine.search.scifact import load_collection
    from vertex.trainer import moco

    hpo = load_hpo()
    study_cfg, space, defaults = hpo["study"], hpo["space"], declared_defaults()
    collection = load_collection()
    val = collection.split("validation")
    qids = metrics.evaluated_queries(val)
    query_texts = [collection.queries[q] for q in qids]
    rows = validation_corpus(collection, val, study_cfg["eval_random_docs"], seed=study_cfg["sampler_seed"])
    texts = [collection.documents[i].full_text for i in rows]
    doc_ids = [collection.doc_ids[i] for i in rows]
    base = moco.MocoConfig(steps=1, split="train-fit")
    data = moco.prepare_data(base)  # shared by every trial: the searched parameters do not change it
    log(f"hpo: {len(qids)} validation queries, validation corpus of {len(rows)} documents, "
        f"{len(data.examples)} train-fit pairs")

    record = {"benchmark": "search_hpo", "space_file": str(HPO_FILE.relative_to(REPO_ROOT)), "space": space,
              "defaults": defaults, "study": study_cfg, "validation": {"queries": len(qids), "documents": len(rows)},
              "machine": {"python": platform.python_version(), "platform": platform.platform()},
              "trials": [], "best": None}

    def objective(trial) -> float:
        params = suggest(trial, space)
        t0 = time.perf_counter()
        steps = study_cfg["epochs"] * moco.steps_per_epoch(len(data.examples), params["batch_size"])
        cfg = moco.MocoConfig(steps=steps, split="train-fit", lr=params["lr"], temperature=params["temperature"],
                              queue_size=params["queue_size"], momentum=params["momentum"],
                              batch_size=params["batch_size"])
        with tempfile.TemporaryDirectory(prefix="hpo-trial-") as tmp:
            result = moco.train(cfg, Path(tmp), data=data, log_every=10**9)
        state = result.state
        qv = moco.encode_texts(state.query_encoder, query_texts, cfg.query_max_len)
        dv = moco.encode_texts(state.key_encoder, texts, cfg.doc_max_len)
        index = HNSWIndex.build(dv, doc_ids, HNSWParams(params["hnsw_m"], defaults["hnsw_ef_construction"],
                                                        params["hnsw_ef_search"]))
        run = dict(zip(qids, index.search_ids(qv, 100)))
        values = {k: float(v.mean()) for k, v in metrics.per_query(run, val).items()}
        hnsw_recall = recall_vs_exact(index, dv, qv, 10)
        trial.set_user_attr("hnsw_recall@10", hnsw_recall)
        trial.set_constraint("hnsw_recall_floor", study_cfg["hnsw_recall_floor"] - hnsw_recall)  # <= 0: feasible
        entry = {"number": trial.number, "params": params, "steps": steps, "value": values["ndcg@10"],
                 "validation": values, "hnsw_recall@10": hnsw_recall, "final_loss": state.losses[-1],
                 "feasible": hnsw_recall >= study_cfg["hnsw_recall_floor"],
                 "seconds": round(time.perf_counter() - t0, 1)}
        record["trials"].append(entry)
        feasible = [t for t in record["trials"] if t["feasible"]]
        record["best"] = max(feasible, key=lambda t: t["value"]) if feasible else None
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({**record, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                                  indent=2))
        log(f"hpo: trial {trial.number} nDCG@10 {values['ndcg@10']:.4f} HNSW recall {hnsw_recall:.4f} "
            f"{params} ({entry['seconds']}s)")
        return values["ndcg@10"]

    sampler = optuna.samplers.TPESampler(seed=study_cfg["sampler_seed"])  # reads the trials' set_constraint
    study = optuna.create_study(direction="maximize", sampler=sampler, study_name="search-moco-hnsw")
    study.enqueue_trial({k: defaults[k] for k in space})
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(objective, n_trials=n_trials)
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.engine.search.hpo", description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=load_hpo()["study"]["trials"])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    record = run_study(args.trials, args.out)
    best = record["best"]
    print(f"hpo: best trial {best['number']} nDCG@10 {best['value']:.4f} {best['params']}" if best
          else "hpo: no feasible trial")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
