"""POST /v1/admin/seed-city through the local gateway: recorded, enqueued on the `seeding` Cloud Tasks queue,
run by the admin function's task handler (the same library code as the job), and reported by GET."""
from __future__ import annotations

import time

import httpx
import pytest

from shared.settings import get_settings

pytestmark = pytest.mark.integration

FULL_DATA = get_settings().data_dir / "venues" / "wikivoyage-2014" / "listings.csv"


@pytest.mark.skipif(not FULL_DATA.exists(), reason="the stack's functions read the datasets from ../shared/data")
def test_seed_city_through_the_admin_api(stack, encoder_ready):
    from tests.integration.catalogue.conftest import run, with_pool

    token = {"X-Admin-Token": stack.env["ADMIN_TOKEN"]}
    url = f"{stack.gateway_url}/v1/admin/seed-city"
    assert httpx.post(url, json={"city": "boston"}, timeout=30).status_code == 401
    bad = httpx.post(url, json={"city": "atlantis"}, headers=token, timeout=30)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "city"

    resp = httpx.post(url, json={"city": "Boston", "limit": 20, "tagger": "offline"}, headers=token, timeout=30)
    assert resp.status_code == 202, resp.text
    run_id = resp.json()["run_id"]
    assert resp.json()["city_id"] == "boston"

    deadline, seen = time.monotonic() + 240, set()
    while time.monotonic() < deadline:
        status = httpx.get(f"{url}/{run_id}", headers=token, timeout=30)
        assert status.status_code == 200
        body = status.json()
        seen.add(body["status"])
        if body["status"] in ("succeeded", "failed"):
            break
        time.sleep(1)
    assert body["status"] == "succeeded", body
    summary = body["summary"]
    assert summary["city_id"] == "boston" and summary["venues"] == 20
    assert summary["inserted"] + summary["updated"] + summary["unchanged"] == 20
    assert body["progress"]["stage"] == "done" and body["finished_at"]
    count = run(with_pool(lambda pool: pool.fetchval("SELECT count(*) FROM activity_nodes WHERE city_id = 'boston'")))
    assert count >= 20
    assert httpx.get(f"{url}/seed-nope", headers=token, timeout=30).status_code == 404
