"""Next-item quality of SASRec against BPR and popularity on real data, with 95% bootstrap CIs.

Datasets and protocols (both leave-last-out per user, chronological: last item = test, second-to-last =
validation, the rest = training history; users with fewer than 3 events are dropped):
- foursquare-nyc: the Foursquare NYC check-ins (../shared/data/checkins/foursquare-nyc/NYC.npy, the STAN
  preprocessing). The test check-in is ranked among all 5,135 POIs, revisits allowed: Acc@1/5/10 and MRR.
  Published references on these files: STAN's example output Acc@1/5/10 = 0.15/0.46/0.59; on other NYC
  preprocessings GETNext 0.24/0.51/0.61 and STHGCN 0.27/0.54/0.62.
- movielens-100k: every rating is an interaction; the test movie is ranked among 100 movies the user never
  rated, drawn uniformly (the SASRec paper's protocol): HR@10 and NDCG@10.
- any `--data FILE` (a .npy of [user, item, time] rows, MovieLens u.data, or a CSV with user,item,timestamp
  columns) under the full-ranking protocol.

Tuning reads the validation split only: SASRec's epochs by early stopping, and for SASRec and BPR a small grid
(GRIDS) chosen by the validation score. The test split is scored once per model, with the chosen settings.
SASRec scores the test item from the history including the validation item; BPR and popularity are refitted
on that same history for the test, so every model sees the same data.

Run: .venv/bin/python bench/sequence_bench.py [--datasets foursquare-nyc,movielens-100k] [--data FILE]
                                              [--quick]    (one configuration per model: a smoke run)
Writes bench/results/sequence_bench.json. About 40 minutes on the 2-core machine (--quick: about 5).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from _common import write_result

NYC = ("checkins", "foursquare-nyc", "NYC.npy")
MOVIELENS = ("interactions", "movielens-100k", "u.data")
GRIDS = {  # candidates tried on the validation split; the first is the --quick choice
    "sasrec": [{"hidden": 64, "dropout": 0.2}, {"hidden": 128, "dropout": 0.3}],
    "bpr": [{"factors": 64, "learning_rate": 0.05}, {"factors": 128, "learning_rate": 0.01},
            {"factors": 128, "learning_rate": 0.05}],
}
ANCHORS = {
    "foursquare-nyc": {"STAN (README example, these files)": {"acc@1": 0.15, "acc@5": 0.46, "acc@10": 0.59},
                       "GETNext (own preprocessing)": {"acc@1": 0.2435, "acc@5": 0.5089, "acc@10": 0.6143},
                       "STHGCN (own preprocessing, best run)": {"acc@1": 0.2734, "acc@5": 0.5361, "acc@10": 0.6244}},
}
TARGET = {"foursquare-nyc": ("acc@10", 0.55)}
MAX_EPOCHS = 100  # early stopping on validation usually ends sooner; the 2-core machine needs ~9 s an epoch on NYC


def log(msg: str) -> None:
    print(msg, flush=True)


def load(name: str, data_dir: Path, path: Path | None = None):
    from shared.engine.sequence.data import load_any, load_checkins_npy, load_movielens

    if path is not None:
        return load_any(path), "full"
    if name == "foursquare-nyc":
        return load_checkins_npy(data_dir.joinpath(*NYC), name), "full"
    if name == "movielens-100k":
        return load_movielens(data_dir.joinpath(*MOVIELENS), name), "sampled"
    raise SystemExit(f"unknown dataset {name!r}: foursquare-nyc, movielens-100k, or --data FILE")


def run_dataset(seqs, protocol: str, quick: bool) -> dict:
    from shared.engine.metrics.stats import paired_comparison
    from shared.engine.sequence import sasrec
    from shared.engine.sequence.baselines import BPR, Popularity
    from shared.engine.sequence.data import leave_last_out
    from shared.engine.sequence.protocol import full_ranking, sampled_ranking, summarise

    split = leave_last_out(seqs)
    n = len(split.train)
    valid_hist = [split.history(i, False) for i in range(n)]
    test_hist = [split.history(i, True) for i in range(n)]

    def judge(scorer, for_test: bool) -> dict[str, np.ndarray]:
        hist, target = (test_hist, split.test) if for_test else (valid_hist, split.valid)
        if protocol == "full":
            return full_ranking(scorer, hist, target)
        return sampled_ranking(scorer, hist, target, split.n_items, seed=1 if for_test else 0)

    key = "acc@10" if protocol == "full" else "ndcg@10"
    out = {"users": n, "items": split.n_items, "events": seqs.n_events, "protocol": protocol, "selected_by": key,
           "models": {}}
    per_user = {}

    log(f"[{seqs.name}] popularity")
    per_user["popularity"] = judge(Popularity(test_hist, split.n_items).scores, True)
    out["models"]["popularity"] = {"test": summarise(per_user["popularity"])}

    log(f"[{seqs.name}] bpr: grid on validation")
    grid, best = [], None
    for params in GRIDS["bpr"][:1 if quick else None]:
        t0 = time.perf_counter()
        score = float(judge(BPR(split.train, split.n_items, **params).scores, False)[key].mean())
        grid.append({**params, "valid": round(score, 4), "seconds": round(time.perf_counter() - t0, 1)})
        log(f"  {params} valid {key} {score:.4f}")
        if best is None or score > best[1]:
            best = (params, score)
    per_user["bpr"] = judge(BPR(test_hist, split.n_items, **best[0]).scores, True)
    out["models"]["bpr"] = {"chosen": best[0], "grid": grid, "test": summarise(per_user["bpr"])}

    log(f"[{seqs.name}] sasrec: grid on validation (early stopping on {key})")
    grid, best = [], None
    for params in GRIDS["sasrec"][:1 if quick else None]:
        cfg = sasrec.SASRecConfig(**params, maxlen=100 if protocol == "full" else 200, eval_every=4,
                                  patience=12, max_epochs=8 if quick else MAX_EPOCHS)
        log(f"  {params}")
        scorer, info = sasrec.train(split.train, split.n_items, cfg, lambda m: float(judge(m.scores, False)[key].mean()),
                                    log=log)
        grid.append({**params, "valid": info["best_valid"], "best_epoch": info["best_epoch"],
                     "seconds": info["train_seconds"]})
        if best is None or info["best_valid"] > best[1]:
            best = (cfg, info["best_valid"], scorer, info)
    cfg, _, scorer, info = best
    per_user["sasrec"] = judge(scorer.scores, True)
    out["models"]["sasrec"] = {"chosen": cfg.as_dict(), "grid": grid, "curve": info["curve"],
                               "test": summarise(per_user["sasrec"])}
    out["sasrec_vs_bpr"] = {m: paired_comparison(per_user["sasrec"][m], per_user["bpr"][m], m).to_dict()
                            for m in per_user["sasrec"]}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", default="foursquare-nyc,movielens-100k")
    ap.add_argument("--data", type=Path, help="any user,item,timestamp file instead (full-ranking protocol)")
    ap.add_argument("--quick", action="store_true", help="one configuration per model and few epochs (smoke run)")
    args = ap.parse_args(argv)
    from shared.settings import get_settings

    data_dir = get_settings().data_dir
    names = [args.data.stem] if args.data else [d.strip() for d in args.datasets.split(",") if d.strip()]
    results, t0 = {}, time.perf_counter()
    for name in names:
        seqs, protocol = load(name, data_dir, args.data)
        results[name] = run_dataset(seqs, protocol, args.quick)
        if name in ANCHORS:
            results[name]["published"] = ANCHORS[name]
        if name in TARGET:
            metric, aim = TARGET[name]
            got = results[name]["models"]["sasrec"]["test"][metric]["mean"]
            results[name]["aim"] = {"metric": metric, "aim": aim, "sasrec": got, "met": got >= aim}
        print_summary(name, results[name])
    write_result("sequence_bench", {"quick": args.quick, "seconds": round(time.perf_counter() - t0, 1),
                                    "datasets": results})
    return 0


def print_summary(name: str, r: dict) -> None:
    print(f"\n{name}: {r['users']} users, {r['items']} items, {r['events']} events ({r['protocol']} ranking)")
    for model, m in r["models"].items():
        cells = "  ".join(f"{k} {v['mean']:.4f} [{v['ci95'][0]:.4f}, {v['ci95'][1]:.4f}]" for k, v in m["test"].items())
        print(f"  {model:<11} {cells}")
    if "aim" in r:
        a = r["aim"]
        print(f"  aim: SASRec {a['metric']} {a['sasrec']:.4f} vs {a['aim']} -> {'met' if a['met'] else 'not met'}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
