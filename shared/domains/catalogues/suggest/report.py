"""The A/B part of the evaluation report: per arm, CTR, acceptance and conversion with Wilson intervals, and the
always-valid mSPRT (ab.msprt) on the primary metric, looked at once per day of data (every look counts: the test
is valid however many there are).

From suggest_events: impressions per arm, clicks and conversions (at most one each per impression, by the event
ids), lists (request ids) and lists with a click (acceptance).
"""
from __future__ import annotations

from shared.domains.catalogues.suggest.ab import msprt, wilson
from shared.domains.catalogues.suggest.config import get_config

_PER_ARM = """
SELECT arm,
       count(*) FILTER (WHERE event_type = 'impression') AS impressions,
       count(*) FILTER (WHERE event_type = 'click') AS clicks,
       count(*) FILTER (WHERE event_type = 'conversion') AS conversions,
       count(DISTINCT request_id) FILTER (WHERE event_type = 'impression') AS lists,
       count(DISTINCT request_id) FILTER (WHERE event_type = 'click') AS accepted_lists
  FROM suggest_events WHERE experiment = $1 GROUP BY arm
"""

_DAILY = """
SELECT date_trunc('day', occurred_at) AS day, arm,
       count(*) FILTER (WHERE event_type = 'impression') AS impressions,
       count(*) FILTER (WHERE event_type = 'click') AS clicks
  FROM suggest_events WHERE experiment = $1 GROUP BY 1, 2 ORDER BY 1
"""


async def experiment_report(conn, experiment_name: str) -> dict:
    experiment = get_config().experiments[experiment_name]
    rows = {r["arm"]: r for r in await conn.fetch(_PER_ARM, experiment_name)}
    arms = {}
    for arm in experiment.arms:
        r = rows.get(arm.name)
        n, c, v = (r["impressions"], r["clicks"], r["conversions"]) if r else (0, 0, 0)
        lists, accepted = (r["lists"], r["accepted_lists"]) if r else (0, 0)
        arms[arm.name] = {"model": arm.model, "weight": arm.weight, "ctr": wilson(c, n).to_dict(),
                          "acceptance": wilson(accepted, lists).to_dict(), "conversion": wilson(v, n).to_dict()}
    out = {"experiment": experiment_name, "arms": arms, "stopping_rule": None}
    if len(experiment.arms) == 2:
        a, b = (arm.name for arm in experiment.arms)
        looks, cum = [], {a: [0, 0], b: [0, 0]}
        for r in await conn.fetch(_DAILY, experiment_name):
            if r["arm"] in cum:
                cum[r["arm"]][0] += r["clicks"]
                cum[r["arm"]][1] += r["impressions"]
                looks.append((cum[a][0], cum[a][1], cum[b][0], cum[b][1]))
        result = msprt(looks, tau=experiment.mixing_sd, alpha=experiment.alpha)
        out["stopping_rule"] = {"method": "mSPRT, normal mixture (Johari et al. 2017/2022), always-valid p-value",
                                "metric": "ctr", "difference": f"{b} - {a}", "tau": experiment.mixing_sd,
                                "alpha": experiment.alpha, **result.to_dict(),
                                "decision": "stop: the arms differ" if result.stopped else "continue"}
    return out
