"""Cloud Run Job: train a ranker and register it as a candidate.

The training itself is vertex/trainer/task.py. In the cloud (VERTEX_TRAINING_IMAGE set by Pulumi) it runs as a
Vertex AI custom job on that image; locally the same entry point runs as a subprocess. Either way it writes a
result document to the models bucket, which this job reads to register the candidate in model_registry.

    python -m jobs.train.main --ranker bpr --dataset movielens-100k [--params '{"factors": 64}']
    python -m jobs.train.main --ranker two_tower --catalogue movielens-1m   # registered as recs-movielens-1m-two_tower

With --catalogue the interactions stored for that catalogue (catalogue_interactions, with the items' titles and
text as item features) are written as Parquet to the training-data bucket and the trainer reads them from there.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import uuid


def trainer_args(args: argparse.Namespace, result_uri: str, dataset_uri: str | None = None) -> list[str]:
    out = ["--ranker", args.ranker, "--params", args.params, "--result-uri", result_uri]
    if dataset_uri:
        out += ["--dataset-uri", dataset_uri]
    else:
        out += ["--dataset", args.dataset] if args.dataset else ["--signals", args.signals, "--holdout", args.holdout]
    model_name = args.model_name or (f"recs-{args.catalogue}-{args.ranker}" if args.catalogue else None)
    if model_name:
        out += ["--model-name", model_name]
    return out


def export_catalogue(catalogue_id: str, run_id: str, split: str | None = None, seed: int = 42) -> str:
    """The catalogue's stored interactions (with --split, the split's training part: jobs/evaluate --dataset
    catalogue:ID with the same --split and --seed then judges the model on the rest) as Parquet in the
    training-data bucket; returns its gs:// URI."""
    from jobs.catalogue_data import CatalogueMissing, load_catalogue_dataset
    from shared.adapters import storage
    from shared.engine.data.parquet_io import to_parquet

    try:
        dataset = load_catalogue_dataset(catalogue_id)
    except CatalogueMissing as exc:
        raise TrainingFailed(str(exc)) from None
    if split:
        from shared.engine.data.splits import make_split

        parts = make_split(dataset, split, seed=seed)
        print(f"train: {catalogue_id}: split {parts.description}; training on its {len(parts.train):,} training "
              "interactions", flush=True)
        dataset = parts.train
    print(f"train: {catalogue_id}: {len(dataset)} interactions, {dataset.n_users} users, {dataset.n_items} items",
          flush=True)
    return storage.write_bytes("training-data", f"catalogues/{catalogue_id}/{run_id}.parquet", to_parquet(dataset))


def run_on_vertex(image: str, argv: list[str], run_id: str) -> None:
    from google.cloud import aiplatform

    from shared.adapters.storage import bucket_name
    from shared.settings import get_settings

    settings = get_settings()
    aiplatform.init(project=settings.project, location=settings.region,
                    staging_bucket=f"gs://{bucket_name('models')}")
    job = aiplatform.CustomJob(
        display_name=f"train-{run_id}",
        worker_pool_specs=[{
            "machine_spec": {"machine_type": os.environ.get("VERTEX_MACHINE_TYPE", "n1-standard-8")},
            "replica_count": 1,
            "container_spec": {"image_uri": image, "command": ["python", "-m", "vertex.trainer.task"], "args": argv},
        }],
    )
    job.run(sync=True)


def run_locally(argv: list[str]) -> None:
    subprocess.run([sys.executable, "-m", "vertex.trainer.task", *argv], check=True)


class TrainingFailed(Exception):
    pass


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="train a ranker and register it as a candidate")
    parser.add_argument("--ranker", required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset")
    source.add_argument("--catalogue", help="an imported catalogue: train on its stored interactions")
    source.add_argument("--signals", metavar="FROM:TO")
    parser.add_argument("--params", default="{}")
    parser.add_argument("--model-name", default=None)
    parser.add_argument("--holdout", choices=("none", "last-generation"), default="none")
    parser.add_argument("--split", default=None, help="--catalogue only: train on this split's training part "
                                                      "(random:0.8, stratified:0.75, ...), as jobs/evaluate splits")
    parser.add_argument("--seed", type=int, default=42, help="the split's seed (default 42)")
    return parser.parse_args(argv)


def train(args: argparse.Namespace):
    """Run the trainer (Vertex AI or a local subprocess) and register its model as a candidate; returns the
    registry record (the existing one when the same code, params and data were registered before)."""
    from shared.adapters import storage
    from shared.adapters.postgres import create_pool
    from shared.engine.registry.store import RegistryConflict, get_model, register_candidate

    run_id = uuid.uuid4().hex[:12]
    result_path = f"runs/{run_id}/result.json"
    result_uri = f"gs://{storage.bucket_name('models')}/{result_path}"
    dataset_uri = export_catalogue(args.catalogue, run_id, args.split, args.seed) if args.catalogue else None
    argv_trainer = trainer_args(args, result_uri, dataset_uri)
    image = os.environ.get("VERTEX_TRAINING_IMAGE")
    print(f"train: run {run_id} on {'Vertex AI (' + image + ')' if image else 'a local subprocess'}", flush=True)
    try:
        (run_on_vertex(image, argv_trainer, run_id) if image else run_locally(argv_trainer))
    except subprocess.CalledProcessError as exc:
        raise TrainingFailed(f"the trainer failed with exit code {exc.returncode}; see its output above") from None
    result = json.loads(storage.read_bytes("models", result_path))

    async def register():
        pool = await create_pool(max_size=1)
        try:
            try:
                record = await register_candidate(
                    pool, result["model_name"], result["version"], result["artifact_path"],
                    metrics={"training": {"fit_seconds": result["fit_seconds"], "dataset": result["dataset"],
                                          "params": result["params"], "holdout": result.get("holdout")}})
                print(f"train: registered {record.served_by} as a candidate ({record.artifact_path})")
            except RegistryConflict:
                record = await get_model(pool, result["model_name"], result["version"])
                print(f"train: {record.served_by} was already registered (same code, params and data); "
                      f"it is {record.status}")
            return record
        finally:
            await pool.close()

    return asyncio.run(register())


def main(argv: list[str] | None = None) -> int:
    try:
        train(parse_args(argv))
    except TrainingFailed as exc:
        print(f"train: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
