"""The distillation loop end to end: seed with the teacher, train the student on those labels from Qdrant, then
seed with --tagger student (no teacher, no LLM)."""
from __future__ import annotations

import json

import pytest

from jobs.seed_city.main import main as seed_main
from tests.integration.catalogue.conftest import DEMO_DATA, reset_city, run, with_pool

pytestmark = pytest.mark.integration


def test_student_trained_on_teacher_labels_tags_a_seeding_run(pg_dsn, qdrant_path, encoder_ready, tmp_path,
                                                              monkeypatch, capsys):
    from shared.adapters.qdrant import get_qdrant
    from shared.domains.travel.catalogue import student
    from shared.domains.travel.catalogue.taxonomy import get_taxonomy
    from shared.domains.travel.catalogue.teacher import tag_texts
    from shared.engine.embeddings import encode

    monkeypatch.setattr(student, "student_path", lambda: tmp_path / "vibe_student.npz")
    run(reset_city("seattle"))
    assert seed_main(["--city", "seattle", "--data-dir", str(DEMO_DATA), "--limit", "120", "--json"]) == 0
    capsys.readouterr()

    venues, x, tags, teacher = student.load_teacher_labels(["seattle"], data_dir=DEMO_DATA, qdrant=get_qdrant())
    assert len(venues) == 120 and teacher == "offline-zero-shot" and x.shape == (120, 384)
    tax = get_taxonomy()
    model, metrics = student.train_student(venues, x, student.labels_matrix(tax, tags),
                                           tag_matrix=encode(tag_texts(tax)), max_iter=30,
                                           teacher=teacher)
    assert metrics["heldout_size"] == 24 and 0 <= metrics["heldout"]["micro_f1"] <= 1
    model.save()

    assert seed_main(["--city", "seattle", "--data-dir", str(DEMO_DATA), "--limit", "130", "--tagger", "student",
                      "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # an explicitly named tagger re-tags everything in scope: 10 new venues, 120 re-tagged
    assert summary["tagged"] == {"student": 130} and (summary["inserted"], summary["updated"]) == (10, 120)
    rows = run(with_pool(lambda pool: pool.fetch(
        "SELECT vibe_tags, provenance FROM activity_nodes WHERE city_id = 'seattle'")))
    assert len(rows) == 130 and all(r["provenance"]["tagger"] == "student" and r["vibe_tags"] for r in rows)
    assert all(r["provenance"]["trained_on"] == "offline-zero-shot" for r in rows)
