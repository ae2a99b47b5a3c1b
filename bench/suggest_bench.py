"""Contextual suggestions, offline: click-prediction AUC and off-policy estimation on the Open Bandit Dataset.

Data: the OBD sample (settings.data_dir/bandits/open-bandit-sample, campaign "all": 80 items, 3 slots, 10,000
impressions per logging policy; see its SOURCE.txt).

a. Click prediction. The uniform-random log in time order: first 70% train, next 10% validation, last 20% test.
   Validation alone chooses the logistic regression's C (by log-loss over LR_GRID) and LightGBM's number of rounds
   (early stopping on log-loss); each model is then refitted with that choice on train+validation and scored once
   on test: ROC AUC with a stratified 95% bootstrap interval (shared.engine.suggest.metrics). The rule fallback
   (smoothed item CTR x position lift) uses the train+validation click statistics. The split holds only a few
   dozen clicks (CTR 0.38%), so the intervals are wide, whatever the model.
b. Off-policy estimation, OBP's protocol (examples/obd, Saito et al. 2021): estimate Bernoulli Thompson Sampling's
   click rate from the random log and compare with BTS's on-policy value, the mean click of the bts log. 30
   bootstrap resamples of the random log; on each, q_hat from a logistic regression with 3-fold cross-fitting
   (its C chosen once, by cross-fitted log-loss of the clicks on the whole random log: the log the estimators
   read anyway, and never the bts clicks); relative error |V_hat - V_on| / V_on per estimator, mean and std
   over the runs, next to OBP's published figures. BTS's action distribution cannot be simulated as OBP does (obp's zozotown prior is
   not in our data), so it is recovered from the bts log's actions and propensities (policies.py): the primary
   `empirical` variant is each slot's item shares in the bts log; `interpolated` (a sensitivity check) follows
   the logged propensities through time and evaluates them at each random-log impression.

c. Serving latency of POST /v1/suggest (limit 3, surface home), on a stack of its own (or a running one with
   --gateway) with suggest-logistic trained, gated and promoted by jobs/suggest_retrain:
   - in-function: what the function runs per request (parse the body, then shared.domains.catalogues.suggest.
     serve.suggest with the real impression publishing to the stack's Pub/Sub emulator) timed in this process
     against the stack's Postgres, one at a time and 8 in flight (8 tasks sharing the pool, as 8 requests in flight in one instance);
   - through the gateway: the same request over HTTP (gateway -> function), at concurrency 1 and 8.
   Users of the control arm are served by the model; users of the treatment arm by the rule fallback (its
   LightGBM model is not promoted: jobs/suggest_retrain's gate blocks it on this data), which is the same-run
   baseline: model/rule ratios of the medians are like for like.

Run: .venv/bin/python bench/suggest_bench.py [--runs 30] [--quick]   (--quick: 3 runs, 300 bootstrap resamples)
     .venv/bin/python bench/suggest_bench.py --latency-only [--gateway URL]   (keeps the stored offline figures)
     .venv/bin/python bench/suggest_bench.py --skip-latency                   (offline only; "latency": null)
Writes bench/results/suggest_bench.json: {"offline": {...}, "latency": {...}}.
About 3 minutes on the 2-core machine for the offline part (--quick: under 1), 2-3 more for the latency part.
"""
from __future__ import annotations

import argparse
import asyncio
import time

import numpy as np
from _common import write_result
from sklearn.metrics import log_loss, roc_auc_score

LR_GRID = (0.001, 0.01, 0.1, 1.0, 10.0)  # C of the L2 logistic regression on standardised features
SPLIT = (0.7, 0.1, 0.2)            # train, validation, test, in time order
N_FOLDS = 3                        # cross-fitting folds of q_hat (OBP's example uses 3)
OBP_RELATIVE_ERROR = {             # OBP examples/obd README: random -> bts, "all", 30 runs, logistic regression
    "dm": {"mean": 0.157, "std": 0.110}, "ips": {"mean": 0.311, "std": 0.311},
    "snips": {"mean": 0.312, "std": 0.335}, "dr": {"mean": 0.292, "std": 0.315},
    "sndr": {"mean": 0.302}, "switch-dr": {"mean": 0.258}, "dros": {"mean": 0.160},
}
AUC_TARGET = 0.75


def log(msg: str) -> None:
    print(msg, flush=True)


def chronological_split(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a, b = int(round(SPLIT[0] * n)), int(round((SPLIT[0] + SPLIT[1]) * n))
    return np.arange(a), np.arange(a, b), np.arange(b, n)


def click_prediction(rlog, resamples: int) -> dict:
    from shared.engine.suggest.features import FeatureStats, training_features
    from shared.engine.suggest.metrics import auc_ci
    from shared.engine.suggest.rankers import LightGBMRanker, LogisticRanker, RuleRanker

    train, valid, test = chronological_split(rlog.n_rounds)
    y = rlog.click
    stats = FeatureStats.from_log(rlog, train)
    X_tr, X_va = training_features(rlog, train, stats, ordered=True), training_features(rlog, valid, stats)

    def val_scores(p: np.ndarray) -> dict:
        return {"log_loss": round(float(log_loss(y[valid], p, labels=[0, 1])), 6),
                "auc": round(float(roc_auc_score(y[valid], p)), 4)}

    lr_val = {C: val_scores(LogisticRanker(C=C).fit(X_tr, y[train]).predict_proba(X_va)) for C in LR_GRID}
    best_C = min(LR_GRID, key=lambda C: lr_val[C]["log_loss"])
    gbm = LightGBMRanker().fit(X_tr, y[train], valid=(X_va, y[valid]))
    gbm_val = val_scores(gbm.predict_proba(X_va))
    log(f"  validation: LR C={best_C} {lr_val[best_C]}; LightGBM {gbm.best_iteration} rounds {gbm_val}")

    refit = np.r_[train, valid]
    stats = FeatureStats.from_log(rlog, refit)
    X_fit, X_te = training_features(rlog, refit, stats, ordered=True), training_features(rlog, test, stats)
    models = {
        "logistic_regression": LogisticRanker(C=best_C).fit(X_fit, y[refit]),
        "lightgbm": LightGBMRanker(num_boost_round=max(1, gbm.best_iteration)).fit(X_fit, y[refit]),
        "rule_ctr_x_position": RuleRanker.from_stats(stats),  # no fit: the statistics are the model
    }
    test_auc = {}
    for name, model in models.items():
        ci = auc_ci(y[test], model.predict_proba(X_te), name, n_resamples=resamples)
        test_auc[name] = ci.to_dict()
        log(f"  test {ci}")
    out = {
        "protocol": "random/all in time order: 70% train, 10% validation (choices only), 20% test; refit on "
                    "train+validation with the validated choice, scored once on test; stratified percentile "
                    "bootstrap CI of ROC AUC (n = test clicks)",
        "rows": {"train": len(train), "validation": len(valid), "test": len(test)},
        "clicks": {"train": int(y[train].sum()), "validation": int(y[valid].sum()), "test": int(y[test].sum())},
        "n_features": X_te.shape[1],
        "beta_prior_strength": round(stats.prior_alpha + stats.prior_beta, 1),
        "validation": {"logistic_regression": {str(C): v for C, v in lr_val.items()}, "chosen_C": best_C,
                       "lightgbm": {**gbm_val, "rounds": gbm.best_iteration}},
        "test_auc": test_auc,
        "target_auc": AUC_TARGET,
        "target_met": {name: v["mean"] > AUC_TARGET for name, v in test_auc.items()},
    }
    return out


def choose_reward_model_C(rlog) -> tuple[float, dict]:
    """The q_hat model's C: the lowest cross-fitted log-loss of the random log's clicks over LR_GRID."""
    from shared.engine.suggest.rankers import LogisticRanker
    from shared.engine.suggest.reward_model import cross_fit_logged

    rows = np.arange(rlog.n_rounds)
    scores = {}
    for C in LR_GRID:
        p = cross_fit_logged(rlog, rows, lambda: LogisticRanker(C=C), N_FOLDS, seed=0)  # noqa: B023
        scores[C] = {"log_loss": round(float(log_loss(rlog.click, p)), 6),
                     "auc": round(float(roc_auc_score(rlog.click, p)), 4), "mean_prediction": round(float(p.mean()), 6)}
    best = min(LR_GRID, key=lambda C: scores[C]["log_loss"])
    log(f"  reward model: C={best} by cross-fitted log-loss {scores[best]}")
    return best, {str(C): v for C, v in scores.items()}


def off_policy(rlog, blog, runs: int, resamples: int) -> dict:
    from shared.engine.suggest.ope import ESTIMATORS, effective_sample_size, estimate_policy_value, importance_weights
    from shared.engine.suggest.policies import empirical_action_dist, interpolated_action_dist, tile
    from shared.engine.suggest.rankers import LogisticRanker
    from shared.engine.suggest.reward_model import cross_fit_q_hat

    v_on = float(blog.click.mean())
    C, reward_model_cv = choose_reward_model_C(rlog)
    interp, mass = interpolated_action_dist(blog, rlog.timestamp)
    variants = {"empirical": tile(empirical_action_dist(blog), rlog.n_rounds), "interpolated": interp}
    make = lambda: LogisticRanker(C=C)  # noqa: E731

    def estimate(rows: np.ndarray, q_hat: np.ndarray, dist: np.ndarray, seed: int) -> dict:
        return estimate_policy_value(rlog.click[rows], rlog.item[rows], rlog.position[rows], rlog.pscore[rows],
                                     dist[rows], q_hat, n_resamples=resamples, seed=seed)

    full = np.arange(rlog.n_rounds)
    q_full = cross_fit_q_hat(rlog, full, make, N_FOLDS, seed=0)
    q_logged = q_full[full, rlog.item, rlog.position]
    full_sample = {}
    for name, dist in variants.items():
        est = estimate(full, q_full, dist, 0)
        w = importance_weights(rlog.item, rlog.position, rlog.pscore, dist)
        full_sample[name] = {"estimates": {k: v.to_dict() for k, v in est.items()},
                             "covers_on_policy": {k: v.low <= v_on <= v.high for k, v in est.items()},
                             "effective_sample_size": round(effective_sample_size(w), 1),
                             "max_weight": round(float(w.max()), 3)}
        log(f"  full random log, {name}: " + ", ".join(f"{k} {v.mean:.5f} [{v.low:.5f}, {v.high:.5f}]"
                                                        for k, v in est.items()) + f"  (on-policy {v_on:.5f})")

    rel = {name: {k: [] for k in ESTIMATORS} for name in variants}
    covered = {name: {k: 0 for k in ESTIMATORS} for name in variants}
    naive = []
    t0 = time.perf_counter()
    for b in range(runs):
        rows = np.random.default_rng(b).integers(0, rlog.n_rounds, rlog.n_rounds)  # like OBP's random_state=b
        q_hat = cross_fit_q_hat(rlog, rows, make, N_FOLDS, seed=b)
        naive.append(abs(rlog.click[rows].mean() - v_on) / v_on)
        for name, dist in variants.items():
            for k, ci in estimate(rows, q_hat, dist, b).items():
                rel[name][k].append(abs(ci.mean - v_on) / v_on)
                covered[name][k] += int(ci.low <= v_on <= ci.high)
        if b == 0 or (b + 1) % 5 == 0:
            e = {k: round(float(np.mean(v)), 3) for k, v in rel["empirical"].items()}
            log(f"  run {b + 1}/{runs} ({time.perf_counter() - t0:.0f}s): mean relative error so far {e}")

    def summary(values: list[float]) -> dict:
        x = np.asarray(values)
        return {"mean": round(float(x.mean()), 4), "std": round(float(x.std(ddof=1)) if len(x) > 1 else 0.0, 4)}

    return {
        "protocol": f"OBP examples/obd: evaluation policy bts, behaviour policy random, campaign all; {runs} "
                    f"bootstrap resamples of the random log; q_hat = logistic regression (C={C}, chosen by "
                    f"cross-fitted log-loss on the random log) with {N_FOLDS}-fold cross-fitting on each resample; "
                    "relative error "
                    "|V_hat - V_on| / V_on, mean and std (ddof=1) over runs",
        "on_policy_value": round(v_on, 6),
        "on_policy_rounds": blog.n_rounds,
        "random_log_value": round(float(rlog.click.mean()), 6),
        "action_dist": {
            "empirical": "pi(a|k) = n_bts(a,k) / n_bts(k): each slot's item shares in the bts log (actions only, "
                         "no clicks); context- and time-free, like OBP's simulated BTS distribution",
            "interpolated": "each (item, slot)'s logged bts propensities interpolated linearly in time, evaluated at "
                            "each random-log timestamp, renormalised per slot",
            "interpolated_raw_mass_per_slot": [round(float(m), 3) for m in mass.mean(axis=0)],
        },
        "reward_model": {"C": C, "cross_fitted_by_C": reward_model_cv,
                         "auc_on_logged": round(float(roc_auc_score(rlog.click, q_logged)), 4),
                         "mean_q_hat_on_logged": round(float(q_logged.mean()), 6)},
        "full_sample": full_sample,
        "relative_error": {name: {k: summary(v) for k, v in per.items()} for name, per in rel.items()},
        "relative_error_of_random_log_mean": summary(naive),
        "ci_coverage_of_on_policy": {name: {k: round(c / runs, 3) for k, c in per.items()}
                                     for name, per in covered.items()},
        "obp_published_relative_error": OBP_RELATIVE_ERROR,
        "runs": runs,
    }


N_LATENCY = 300       # timed requests per series
LATENCY_TARGETS = {"in_function_p99_ms": 30.0, "gateway_c8_p99_ms": 150.0}


def pct(samples: list[float]) -> dict:
    s = sorted(samples)

    def at(q: float) -> float:
        return round(s[min(len(s) - 1, int(round(q * (len(s) - 1))))], 3)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "n": len(s)}


def _arm_users(arm: str, n: int, tag: str) -> list[str]:
    from shared.domains.catalogues.suggest.ab import assign
    from shared.domains.catalogues.suggest.config import get_config

    exp = get_config().experiment_of("home")
    users = (f"bench-{tag}-{i}" for i in range(100 * n))
    return [u for u in users if assign(exp, u).name == arm][:n]


def _body(user: str) -> dict:
    from datetime import UTC, datetime

    return {"user_id": user, "surface": "home", "limit": 3,
            "context": {"device": "mobile", "current_action": "browse", "timestamp": datetime.now(UTC).isoformat(),
                        "session_length": 60, "user_features": {"user_feature_0": "81ce123cbb5bd8ce818f60fb3586bba5"}}}


async def _in_function(users: list[str], concurrency: int) -> tuple[dict, dict]:
    import json as _json

    from shared.adapters.postgres import create_pool
    from shared.api.http import parse
    from shared.domains.catalogues.suggest.schemas import SuggestRequest
    from shared.domains.catalogues.suggest.serve import suggest

    pool = await create_pool(max_size=concurrency)
    served: dict[str, int] = {}
    try:
        async def timed(user: str, out: list[float]) -> None:
            raw = _json.dumps(_body(user))
            t = time.perf_counter()
            answer = await suggest(pool, parse(SuggestRequest, _json.loads(raw)))   # as the function calls it
            out.append((time.perf_counter() - t) * 1000)
            key = answer["served_by"].split("@")[0]
            served[key] = served.get(key, 0) + 1

        await timed(users[0], [])  # the catalogue and the model load once, outside the timings
        out: list[float] = []
        for i in range(0, len(users), concurrency):
            await asyncio.gather(*(timed(u, out) for u in users[i:i + concurrency]))
    finally:
        await pool.close()
    return pct(out), served


def _gateway(gateway: str, users: list[str], concurrency: int) -> tuple[dict, dict]:
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    served: dict[str, int] = {}

    def call(client, user):
        t = time.perf_counter()
        r = client.post(f"{gateway}/v1/suggest", json=_body(user), headers={"Authorization": f"Bearer {user}"})
        assert r.status_code == 200, r.text
        key = r.json()["served_by"].split("@")[0]
        served[key] = served.get(key, 0) + 1
        return (time.perf_counter() - t) * 1000

    with httpx.Client(timeout=30, limits=httpx.Limits(max_connections=concurrency)) as client:
        call(client, users[0])
        with ThreadPoolExecutor(concurrency) as ex:
            samples = list(ex.map(lambda u: call(client, u), users[1:]))
    return pct(samples), served


def latency(gateway: str | None) -> dict:
    import os
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    stack = None
    if not gateway:
        from _common import forget_running_stack, lift_rate_limits

        from emulators.stack import Stack

        forget_running_stack()
        lift_rate_limits()
        stack = Stack(state_dir=Path(tempfile.mkdtemp(prefix="suggest-bench-")), dynamic_ports=True, scheduler=False)
        stack.up()
        stack.export()
        gateway = os.environ["CONCIERGE_GATEWAY_URL"]
    try:
        from shared.settings import get_settings

        get_settings.cache_clear()
        log("c. serving latency: training and promoting with jobs.suggest_retrain")
        subprocess.run([sys.executable, "-m", "jobs.suggest_retrain.main", "--resamples", "200"],
                       check=True, capture_output=True)
        out: dict = {"request": "POST /v1/suggest, surface home, limit 3", "in_function": {}, "gateway": {}}
        for arm, label in (("control", "model"), ("treatment", "rule_fallback")):
            for c in (1, 8):
                users = _arm_users(arm, N_LATENCY + 1, f"{label}-c{c}")
                stats, served = asyncio.run(_in_function(users, c))
                out["in_function"][f"{label}_concurrency_{c}"] = {**stats, "served_by": served}
                users = _arm_users(arm, N_LATENCY + 1, f"gw-{label}-c{c}")
                stats, served = _gateway(gateway, users, c)
                out["gateway"][f"{label}_concurrency_{c}"] = {**stats, "served_by": served}
                log(f"  {label} c{c}: in-function {out['in_function'][f'{label}_concurrency_{c}']}; "
                    f"gateway {out['gateway'][f'{label}_concurrency_{c}']}")
        f, g = out["in_function"], out["gateway"]
        out["median_ratio_model_to_rule"] = {
            f"{where}_c{c}": round(d[f"model_concurrency_{c}"]["p50"] / d[f"rule_fallback_concurrency_{c}"]["p50"], 3)
            for where, d in (("in_function", f), ("gateway", g)) for c in (1, 8)}
        out["median_ratio_gateway_to_in_function"] = {
            f"model_c{c}": round(g[f"model_concurrency_{c}"]["p50"] / f[f"model_concurrency_{c}"]["p50"], 3)
            for c in (1, 8)}
        out["targets"] = {
            "in_function_p99_ms<=30": max(f[k]["p99"] for k in f) <= LATENCY_TARGETS["in_function_p99_ms"],
            "gateway_c8_p99_ms<=150": max(g["model_concurrency_8"]["p99"], g["rule_fallback_concurrency_8"]["p99"])
            <= LATENCY_TARGETS["gateway_c8_p99_ms"]}
        return out
    finally:
        if stack is not None:
            stack.down(quiet=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=30, help="bootstrap resamples of the random log (OBP: 30)")
    ap.add_argument("--quick", action="store_true", help="3 runs and 300 bootstrap resamples: a smoke run")
    ap.add_argument("--latency-only", action="store_true",
                    help="measure serving latency only; keep the offline figures of the stored result")
    ap.add_argument("--skip-latency", action="store_true", help="the offline part only")
    ap.add_argument("--gateway", help="a running stack's gateway (its env exported); default: a stack of its own")
    args = ap.parse_args()
    runs, resamples = (3, 300) if args.quick else (args.runs, 1000)
    if args.latency_only:
        import json
        from pathlib import Path

        stored = json.loads((Path(__file__).parent / "results" / "suggest_bench.json").read_text())
        t0 = time.perf_counter()
        lat = latency(args.gateway)
        write_result("suggest_bench", {**{k: v for k, v in stored.items() if k not in ("benchmark", "measured_at",
                                                                                          "machine")},
                                       "offline_measured_at": stored.get("offline_measured_at",
                                                                         stored.get("measured_at")),
                                       "latency_seconds": round(time.perf_counter() - t0, 1), "latency": lat})
        return

    from shared.engine.suggest.bandit_data import dataset_root, load_log

    t0 = time.perf_counter()
    root = dataset_root()
    log(f"loading {root}")
    rlog, blog = load_log("random", "all", root), load_log("bts", "all", root)
    log(f"random/all {rlog.n_rounds} rounds, {int(rlog.click.sum())} clicks; "
        f"bts/all {blog.n_rounds} rounds, {int(blog.click.sum())} clicks")
    log("a. click prediction")
    clicks = click_prediction(rlog, max(resamples, 2000))
    log("b. off-policy estimation of bts from the random log")
    ope = off_policy(rlog, blog, runs, resamples)
    for name, per in ope["relative_error"].items():
        log(f"  relative error ({name}): " + ", ".join(f"{k} {v['mean']:.3f}±{v['std']:.3f}" for k, v in per.items()))
    log(f"  OBP published: " + ", ".join(f"{k} {v['mean']}" + (f"±{v['std']}" if "std" in v else "")
                                         for k, v in OBP_RELATIVE_ERROR.items()))
    write_result("suggest_bench", {
        "quick": args.quick,
        "seconds": round(time.perf_counter() - t0, 1),
        "offline": {"dataset": "open-bandit-sample (under the settings' data_dir)", "n_actions": rlog.n_actions, "len_list": rlog.len_list,
                    "click_prediction": clicks, "off_policy": ope},
        "latency": None if args.skip_latency else latency(args.gateway),
    })


if __name__ == "__main__":
    main()
