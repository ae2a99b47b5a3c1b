"""Rendering of an evaluation report: JSON (everything), a markdown table, and a PNG of every metric with its CI.

The report names what is needed to reproduce each figure: dataset (and its fingerprint), split, seed, evaluation
set fingerprint, and each model's name, version and artifact.
"""
from __future__ import annotations

import io
import json
from typing import Any


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
    if report.get("warnings"):
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in report["warnings"]]
    return "\n".join(lines) + "\n"


def to_png(report: dict[str, Any]) -> bytes:
    """One panel per metric; each model a point with its CI as an error bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric_names = report["metric_names"]
    models = report["models"]
    ncols = min(4, len(metric_names))
    nrows = (len(metric_names) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols + 2.6, 0.5 * len(models) * nrows + 1.5 * nrows),
                             squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for idx, name in enumerate(metric_names):
        ax = axes[idx // ncols][idx % ncols]
        for row, m in enumerate(models):
            ci = m["metrics"].get(name)
            if ci is None:
                continue
            y = len(models) - 1 - row
            ax.errorbar(ci["mean"], y, xerr=[[ci["mean"] - ci["low"]], [ci["high"] - ci["mean"]]], fmt="o",
                        color=colours[row % len(colours)], capsize=4, markersize=5)
            ax.annotate(f"{ci['mean']:.3f}", (ci["mean"], y), textcoords="offset points", xytext=(0, 6),
                        ha="center", fontsize=7)
        ax.set_title(name, fontsize=10)
        ax.set_yticks(range(len(models)))
        if idx % ncols == 0:  # model names once per row of panels
            ax.set_yticklabels([m["label"] for m in reversed(models)], fontsize=8)
        else:
            ax.set_yticklabels([])
        ax.set_ylim(-0.7, len(models) - 0.3)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(axis="x", labelsize=8)
    for idx in range(len(metric_names), nrows * ncols):
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
