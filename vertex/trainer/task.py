"""Training entry point of a Vertex AI custom job (locally: the same module as a subprocess).

Fits one ranker on a named dataset or on a date range of our exported signals, uploads the artifact to the
models bucket and writes a small result document (artifact URI, version, timings) where the launcher said, so
the launcher can register the candidate whether it ran us locally or on Vertex.

    python -m vertex.trainer.task --ranker bpr --dataset movielens-100k --result-uri gs://BUCKET/runs/ID/result.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="train one ranker and upload its artifact")
    parser.add_argument("--ranker", required=True, help="popularity, als, bpr, item_knn, ease, ...")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", help="a named dataset (movielens-100k, movielens-1m-implicit, foodcom)")
    source.add_argument("--signals", metavar="FROM:TO", help="exported signal dates, e.g. 2026-11-01:2026-11-07")
    source.add_argument("--dataset-uri", help="gs://... (or a path) of an interaction dataset as Parquet "
                                              "(shared.engine.data.parquet_io; jobs/train writes it for a catalogue)")
    parser.add_argument("--params", default="{}", help="JSON object of ranker hyper-parameters")
    parser.add_argument("--model-name", default=None, help="registry name (default: the ranker's name)")
    parser.add_argument("--holdout", choices=("none", "last-generation"), default="none",
                        help="signals only: leave each user's latest logged generation out of training, for the "
                             "gate to judge the model on (shared.engine.data.signals.hold_out_last_generation)")
    parser.add_argument("--result-uri", required=True, help="gs://... or a local path for the result JSON")
    return parser.parse_args(argv)


def load_training_data(args: argparse.Namespace):
    if args.dataset:
        from shared.engine.data.loaders import load_dataset

        return load_dataset(args.dataset)
    if args.dataset_uri:
        from shared.engine.data.parquet_io import from_parquet
        from shared.engine.registry.artifacts import read_artifact_bytes

        return from_parquet(read_artifact_bytes(args.dataset_uri))
    from shared.engine.data.signals import hold_out_last_generation, read_export, signals_dataset

    start, _, end = args.signals.partition(":")
    table = read_export(date.fromisoformat(start), date.fromisoformat(end or start))
    if args.holdout == "last-generation":
        return hold_out_last_generation(table)[0]
    return signals_dataset(table)


def write_result(uri: str, result: dict) -> None:
    data = json.dumps(result, indent=1).encode()
    if uri.startswith("gs://"):
        from shared.adapters.storage import get_storage

        bucket, _, path = uri[len("gs://"):].partition("/")
        get_storage().bucket(bucket).blob(path).upload_from_string(data, content_type="application/json")
    else:
        from pathlib import Path

        Path(uri).write_bytes(data)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from shared.engine.rankers import create_ranker
    from shared.engine.registry.artifacts import upload_artifact

    try:
        params = json.loads(args.params)
        if not isinstance(params, dict):
            raise ValueError("not an object")
    except ValueError as exc:
        print(f"error: --params must be a JSON object ({exc})", file=sys.stderr)
        return 2
    source = (f"dataset {args.dataset}" if args.dataset else f"dataset {args.dataset_uri}" if args.dataset_uri
              else f"signals {args.signals}")
    print(f"trainer: loading {source}", flush=True)
    dataset = load_training_data(args)
    print(f"trainer: {len(dataset)} interactions, {dataset.n_users} users, {dataset.n_items} items", flush=True)
    ranker = create_ranker(args.ranker, **params)
    started = time.perf_counter()
    ranker.fit(dataset)
    fit_s = time.perf_counter() - started
    uri = upload_artifact(ranker, args.model_name)
    result = {"model_name": args.model_name or ranker.name, "version": ranker.version, "artifact_path": uri,
              "fit_seconds": round(fit_s, 3), "dataset": dataset.describe(), "params": params,
              "holdout": args.holdout if args.signals else None}
    write_result(args.result_uri, result)
    print(f"trainer: fitted {ranker.served_by} in {fit_s:.1f}s -> {uri}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
