"""jobs/evaluate end to end against the local stack: signals export and reports in the GCS emulator, the registry in
the embedded Postgres, artifacts in the models bucket; plus a MovieLens 100k baseline run."""
from __future__ import annotations

import asyncio
import io
import json
import uuid
from datetime import date, timedelta

import asyncpg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.unit.engine.synthetic import signals_export

pytestmark = pytest.mark.integration

FIRST_EVAL_DAY = date(2019, 3, 10)  # far from any real export another test could write
EVAL_DAYS, TRAIN_DAYS = 3, 6


@pytest.fixture(scope="module")
def exported(stack):
    from shared.adapters import storage
    from shared.engine.data.signals import partition_path

    tables = signals_export(FIRST_EVAL_DAY, train_days=TRAIN_DAYS, eval_days=EVAL_DAYS, n_users=40, n_items=30)
    for day, table in tables.items():
        buf = io.BytesIO()
        pq.write_table(table, buf)
        storage.write_bytes("training-data", partition_path(day) + "part-00000.parquet", buf.getvalue())
    yield tables
    for day in tables:
        storage.delete_prefix("training-data", partition_path(day))


@pytest.fixture(scope="module")
def registered(exported, stack):
    """A production model (popularity) and a candidate (EASE) of one model_name, trained on the training days."""
    from shared.engine.data.signals import signals_dataset
    from shared.engine.rankers import create_ranker
    from shared.engine.registry import register_candidate, transition
    from shared.engine.registry.artifacts import upload_artifact

    train = signals_dataset(pa.concat_tables([t for d, t in exported.items() if d < FIRST_EVAL_DAY]))
    production = create_ranker("popularity").fit(train)
    candidate = create_ranker("ease", l2=5.0).fit(train)
    name = f"trip_ranker_{uuid.uuid4().hex[:6]}"

    async def setup():
        conn = await asyncpg.connect(stack.env["DATABASE_URL"])
        try:
            for ranker in (production, candidate):
                await register_candidate(conn, name, ranker.version, upload_artifact(ranker, name))
            await transition(conn, name, production.version, "shadow")
            await transition(conn, name, production.version, "production")
        finally:
            await conn.close()

    asyncio.run(setup())
    return name, production.version, candidate.version


def _statuses(dsn: str, name: str) -> dict[str, tuple[str, dict]]:
    async def fetch():
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch("SELECT version, status, metrics::text AS m FROM model_registry "
                                    "WHERE model_name = $1", name)
            return {r["version"]: (r["status"], json.loads(r["m"])) for r in rows}
        finally:
            await conn.close()

    return asyncio.run(fetch())


def _report_files(prefix: str) -> dict[str, bytes]:
    from shared.adapters import storage

    return {p.rsplit("/", 1)[1]: storage.read_bytes("reports", p) for p in storage.list_paths("reports", prefix)}


def _args(name: str, prefix: str, *extra: str) -> list[str]:
    last = FIRST_EVAL_DAY + timedelta(days=EVAL_DAYS - 1)
    return ["--dataset", "signals", "--from", FIRST_EVAL_DAY.isoformat(), "--to", last.isoformat(),
            "--train-days", str(TRAIN_DAYS), "--model", name, "--baseline", "popularity",
            "--n-resamples", "300", "--report-prefix", prefix, *extra]


def test_evaluates_logged_sets_writes_report_and_registry_then_gates(registered, stack, tmp_path, capsys):
    from jobs.evaluate.main import main

    name, prod_version, cand_version = registered
    prefix = f"test-evaluations/{uuid.uuid4().hex[:8]}"
    assert main(_args(name, prefix, "--promote")) == 0
    out = capsys.readouterr().out
    assert "gate: passed" in out and "candidate -> shadow" in out

    files = _report_files(prefix)
    assert {"report.json", "report.md", "metrics.png"} == set(files)
    report = json.loads(files["report.json"])
    # everything needed to reproduce a figure is named
    assert report["data"]["dataset"].startswith("signals 2019-03-10..2019-03-12")
    assert report["data"]["split"].startswith("temporal(cutoff_us=")
    assert report["seed"] == 42 and report["protocol"] == "candidates" and report["eval_set"]
    assert report["data"]["candidate_sets"]["sets"] == 120
    labels = {m["model"] for m in report["models"]}
    assert {f"{name}@{prod_version}", f"{name}@{cand_version}"} <= labels
    cand = next(m for m in report["models"] if m["model"] == f"{name}@{cand_version}")
    assert cand["artifact_path"].startswith("gs://") and cand["ranker"] == "ease"
    hr = cand["metrics"]["hr@5"]
    assert hr["low"] <= hr["mean"] <= hr["high"] and hr["n"] == 40
    gate = next(g for g in report["gate"] if g["candidate_model"] == f"{name}@{cand_version}")
    assert gate["passed"] and gate["reference_model"] == f"{name}@{prod_version}"
    assert gate["action"] == f"{name}@{cand_version}: candidate -> shadow"
    assert f"`{name}@{cand_version}`" in files["report.md"].decode() and "Promotion gate" in files["report.md"].decode()

    png = files["metrics.png"]
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")
    assert pixels.shape[0] > 300 and pixels.shape[1] > 600 and pixels.std() > 0.05  # a real chart, not a blank
    (tmp_path / "metrics.png").write_bytes(png)

    rows = _statuses(stack.env["DATABASE_URL"], name)
    assert rows[cand_version][0] == "shadow" and rows[prod_version][0] == "production"
    evaluation = rows[cand_version][1]["evaluations"][report["eval_set"]]
    assert evaluation["metrics"]["hr@5"]["mean"] == hr["mean"]
    assert evaluation["report"].endswith(f"{prefix}/{report['run_id']}/report.json")
    assert evaluation["seed"] == 42 and evaluation["split"] == report["data"]["split"]

    # second night: the shadow passes again on the same data and is promoted; the old production retires
    assert main(_args(name, prefix + "-2", "--promote")) == 0
    second = json.loads(_report_files(prefix + "-2")["report.json"])
    # the shadow section judges it on the live sets it scored: none here (no stack served it), and it says so
    (shadow,) = second["shadow"]
    assert shadow["model"] == f"{name}@{cand_version}" and "0 shadow set(s)" in shadow["reason"]
    rows = _statuses(stack.env["DATABASE_URL"], name)
    assert rows[cand_version][0] == "production" and rows[prod_version][0] == "retired"
    assert rows[cand_version][1]["promotion"]["passed"] is True


def test_movielens_baselines_full_ranking(stack):
    from jobs.evaluate.main import main
    from shared.engine.data.loaders import interactions_dir

    if not (interactions_dir() / "movielens-100k" / "u.data").exists():
        pytest.skip("MovieLens 100k is not in the data directory")
    prefix = f"test-evaluations/{uuid.uuid4().hex[:8]}"
    rc = main(["--dataset", "movielens-100k", "--split", "stratified:0.75", "--seed", "42", "--baseline", "popularity",
               "--baseline", "ease:l2=500", "--k", "10", "--gate-metric", "ndcg@10", "--n-resamples", "200",
               "--report-prefix", prefix])
    assert rc == 0
    report = json.loads(_report_files(prefix)["report.json"])
    assert report["data"]["split"] == "stratified_random(ratio=0.75, seed=42)"
    assert report["n_users"] == 943
    ease = next(m for m in report["models"] if m["ranker"] == "ease")
    assert ease["metrics"]["ndcg@10"]["mean"] > 0.44
    assert report["comparisons"][0]["significant"]


def test_errors_exit_non_zero_and_write_nothing(stack, exported, capsys):
    from jobs.evaluate.main import main
    from shared.adapters import storage

    prefix = f"test-evaluations/{uuid.uuid4().hex[:8]}"
    assert main(["--dataset", "signals", "--from", "2001-01-01", "--to", "2001-01-02", "--baseline", "popularity",
                 "--report-prefix", prefix]) == 2
    assert "run the nightly_extract job" in capsys.readouterr().err
    assert main(["--dataset", "signals", "--from", FIRST_EVAL_DAY.isoformat(), "--to",
                 FIRST_EVAL_DAY.isoformat(), "--model", "no_such_model", "--report-prefix", prefix]) == 2
    assert "run the train job first" in capsys.readouterr().err
    assert main(["--dataset", "movielens-100k", "--split", "sideways", "--baseline", "popularity",
                 "--report-prefix", prefix]) == 2
    assert storage.list_paths("reports", prefix) == []
    # the scheduled, argument-less form on days without exports is not a failure
    assert main(["--from", "2001-01-01", "--to", "2001-01-02"]) == 0
    assert "nothing to evaluate" in capsys.readouterr().out
