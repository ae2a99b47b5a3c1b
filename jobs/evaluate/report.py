"""Rendering of an evaluation report: JSON (everything), a markdown table, and a PNG of every metric with its CI.

The report names what is needed to reproduce each figure: dataset (and its fingerprint), split, seed, evaluation
set fingerprint, and each model's name, version and artifact.
"""
from __future__ import annotations

import io
import json
from typing import Any


SHADOW_METRICS = ("hr@5", "mrr@10", "ndcg@10")


def to_json(report: dict[str, Any]) -> bytes:
    return json.dumps(report, indent=2, sort_keys=False, default=str).encode()


def _fmt(ci: dict[str, Any]) -> str:
    return f"{ci['mean']:.4f} [{ci['low']:.4f}, {ci['high']:.4f}]"


def to_markdown(report: dict[str, Any]) -> str:
    data = report["data"]
    lines = [
        f"# Evaluation {report['run_id']}",
        "",
        f"- dataset: **{data['dataset']}** (fingerprint `{data.get('fingerprint', '-')}`)",
        f"- split: `{data['split']}`; seed {report['seed']}; protocol: {report['protocol']}; k: {report['ks']}",
        f"- evaluation set: `{report['eval_set']}`; {report['n_users']} users; "
        f"{int(report['confidence'] * 100)}% percentile-bootstrap CIs over users ({report['n_resamples']} resamples)",
        f"- created: {report['created_at']}",
        "",
        "## Models",
        "",
        "| model | source | status | artifact | trained on |",
        "|---|---|---|---|---|",
    ]
    for m in report["models"]:
        trained = m.get("trained_on") or {}
        lines.append(
            f"| `{m['model']}` | {m['source']} | {m.get('status') or '-'} | {m.get('artifact_path') or '-'} | "
            f"{trained.get('dataset', '-')} `{trained.get('fingerprint', '-')}` |"
        )
    metric_names = report["metric_names"]
    lines += ["", "## Metrics (mean [95% CI])", "", "| model | " + " | ".join(metric_names) + " |",
              "|---|" + "---|" * len(metric_names)]
    for m in report["models"]:
        cells = [_fmt(m["metrics"][name]) if name in m["metrics"] else "-" for name in metric_names]
        lines.append(f"| `{m['model']}` | " + " | ".join(cells) + " |")
    extras = sorted({k for m in report["models"] for k in m.get("extra", {}) if k.startswith("coverage")},
                    key=lambda k: (len(k), k))
    if extras:
        lines += ["", "| model | " + " | ".join(extras) + " |", "|---|" + "---|" * len(extras)]
        for m in report["models"]:
            lines.append(f"| `{m['model']}` | " + " | ".join(str(m["extra"].get(x, "-")) for x in extras) + " |")
    if report.get("comparisons"):
        lines += ["", "## Paired comparisons (model minus reference, per user)", "",
                  "| model | reference | metric | diff | 95% CI of diff | Wilcoxon p | significant |",
                  "|---|---|---|---|---|---|---|"]
        for c in report["comparisons"]:
            p = c["p_value_wilcoxon"]
            lines.append(
                f"| `{c['model']}` | `{c['reference']}` | {c['metric']} | {c['diff']:+.4f} | "
                f"[{c['diff_low']:+.4f}, {c['diff_high']:+.4f}] | {'<1e-12' if p < 1e-12 else f'{p:.3g}'} | "
                f"{'yes' if c['significant'] else 'no'} |"
            )
    if report.get("gate"):
        lines += ["", "## Promotion gate", ""]
        for g in report["gate"]:
            verdict = "PASS" if g["passed"] else "BLOCK"
            lines.append(f"- **{verdict}** `{g['candidate_model']}` vs `{g['reference_model']}`: {g['reason']}"
                         + (f" -> {g['action']}" if g.get("action") else ""))
    if report.get("shadow"):
        lines += ["", "## Shadow (live candidate sets scored off the response path, answered items only)", "",
                  "| model | sets | side | " + " | ".join(SHADOW_METRICS) + " | decision |",
                  "|---|---|---|" + "---|" * len(SHADOW_METRICS) + "---|"]
        for sh in report["shadow"]:
            for side in ("shadow", "served"):
                figures = sh.get(side) or {}
                cells = [_fmt(figures[m]) if m in figures else "-" for m in SHADOW_METRICS]
                lines.append(f"| `{sh['model']}` | {sh['shadow_sets']} | {side} | " + " | ".join(cells) + " | "
                             + (sh["reason"] if side == "shadow" else "") + " |")
    if report.get("counterfactual"):
        lines += ["", "## Counterfactual acceptance (IPS / SNIPS over the logged stop decisions)", "",
                  "| model | IPS | SNIPS | stops | effective sample | logged acceptance |", "|---|---|---|---|---|---|"]
        for c in report["counterfactual"]:
            if c.get("error") or not c.get("snips"):
                lines.append(f"| `{c['model']}` | - | - | {c.get('n', 0)} | - | {c.get('error', 'no estimate')} |")
                continue
            lines.append(f"| `{c['model']}` | {_fmt(c['ips'])} | {_fmt(c['snips'])} | {c['n']} | "
                         f"{c['effective_sample_size']} | {c['logged_acceptance']:.4f} |")
    if report.get("warnings"):
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in report["warnings"]]
    return "\n".join(lines) + "\n"


def _panels(report: dict[str, Any]) -> list[tuple[str, list[tuple[str, dict | None]], float | None]]:
    """(title, [(row label, CI)], reference line): one per metric; then, when the report has them, the
    counterfactual SNIPS of each model against the logged acceptance, and each shadow model against what was
    served on its sets."""
    models = report["models"]
    panels = [(name, [(m["label"], m["metrics"].get(name)) for m in models], None) for name in report["metric_names"]]
    cf = [c for c in report.get("counterfactual") or [] if c.get("snips")]
    if cf:
        labels = {m["model"]: m["label"] for m in models}
        panels.append(("counterfactual acceptance (SNIPS)", [(labels.get(c["model"], c["model"]), c["snips"])
                                                             for c in cf], cf[0]["logged_acceptance"]))
    for sh in report.get("shadow") or []:
        if sh.get("shadow") and sh.get("served"):
            panels.append((f"shadow ndcg@10, {sh['shadow_sets']} live sets",
                           [(f"shadow {sh['model'][:24]}", sh["shadow"].get("ndcg@10")),
                            ("served", sh["served"].get("ndcg@10"))], None))
    return panels


def to_png(report: dict[str, Any]) -> bytes:
    """One panel per metric (and for the counterfactual and shadow figures); each model a point with its CI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = _panels(report)
    tallest = max(len(rows) for _, rows, _ in panels)
    ncols = min(4, len(panels))
    nrows = (len(panels) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols + 2.6, 0.5 * tallest * nrows + 1.5 * nrows),
                             squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for idx, (title, rows, line) in enumerate(panels):
        ax = axes[idx // ncols][idx % ncols]
        for row, (_label, ci) in enumerate(rows):
            if ci is None or ci.get("low") is None:
                continue
            y = len(rows) - 1 - row
            ax.errorbar(ci["mean"], y, xerr=[[ci["mean"] - ci["low"]], [ci["high"] - ci["mean"]]], fmt="o",
                        color=colours[row % len(colours)], capsize=4, markersize=5)
            ax.annotate(f"{ci['mean']:.3f}", (ci["mean"], y), textcoords="offset points", xytext=(0, 6),
                        ha="center", fontsize=7)
        if line is not None:
            ax.axvline(line, color="grey", linestyle="--", linewidth=1)
            ax.annotate(f"logged {line:.3f}", (line, len(rows) - 0.5), fontsize=7, color="grey", ha="center")
        ax.set_title(title, fontsize=10)
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([label for label, _ in reversed(rows)], fontsize=8)
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(axis="x", labelsize=8)
    for idx in range(len(panels), nrows * ncols):
        axes[idx // ncols][idx % ncols].axis("off")
    data = report["data"]
    fig.suptitle(
        f"{data['dataset']} | split {data['split']} | seed {report['seed']} | {report['protocol']} | "
        f"eval set {report['eval_set']} | n={report['n_users']} users | {int(report['confidence'] * 100)}% bootstrap CI",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()
