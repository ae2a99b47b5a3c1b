"""Travel's alert rules (registered in shared.engine.alerts' registry; listed in its RULE_MODULES)."""
from __future__ import annotations

from shared.engine.alerts import Check, rule


@rule("seeding_failed", "A seeding run failed in the last 24 hours", "functions/admin/main.py (seed_runs)")
async def _seeding_failed(pool) -> Check:
    rows = await pool.fetch("SELECT id, city_id, error FROM seed_runs WHERE status = 'failed' "
                            "AND created_at >= now() - interval '24 hours' ORDER BY created_at DESC LIMIT 5")
    total = await pool.fetchval("SELECT count(*) FROM seed_runs WHERE created_at >= now() - interval '24 hours'")
    inputs = {"runs_last_24h": total, "failed": [{"run_id": r["id"], "city_id": r["city_id"],
                                                  "error": (r["error"] or "")[:200]} for r in rows]}
    if rows:
        return Check("firing", f"{len(rows)} failed seeding run(s) in the last 24 hours", inputs)
    return Check("ok", f"{total} run(s) in the last 24 hours, none failed", inputs)
