"""Cloud Tasks enqueuer. Locally CLOUD_TASKS_EMULATOR_HOST points the same client at gcloud-tasks-emulator."""
from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import grpc
from google.api_core import exceptions
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

from shared.settings import get_settings


@lru_cache(maxsize=1)
def _client() -> tasks_v2.CloudTasksClient:
    host = get_settings().tasks_emulator_host
    if host:
        channel = grpc.insecure_channel(host)
        return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
    return tasks_v2.CloudTasksClient()


def queue_path(queue: str) -> str:
    s = get_settings()
    return _client().queue_path(s.project, s.region, queue)


def enqueue_http(queue: str, url: str, payload: Any, *, task_id: str | None = None, delay_s: int = 0) -> str:
    """Enqueue a POST of `payload` to `url`, authenticated with an OIDC token in the cloud.

    A task_id makes the enqueue idempotent: Cloud Tasks refuses a second task of the same name, which
    we treat as success (the work is already queued).
    """
    settings = get_settings()
    http_request: dict[str, Any] = {
        "http_method": tasks_v2.HttpMethod.POST,
        "url": url,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(payload, default=str).encode(),
    }
    if settings.tasks_service_account:
        http_request["oidc_token"] = {"service_account_email": settings.tasks_service_account, "audience": url}
    task: dict[str, Any] = {"http_request": http_request}
    if task_id:
        task["name"] = f"{queue_path(queue)}/tasks/{task_id}"
    if delay_s:
        from google.protobuf import timestamp_pb2
        import time

        ts = timestamp_pb2.Timestamp()
        ts.FromSeconds(int(time.time()) + delay_s)
        task["schedule_time"] = ts
    try:
        created = _client().create_task(request={"parent": queue_path(queue), "task": task}, timeout=10)
        return created.name
    except exceptions.AlreadyExists:
        return task["name"]


def ping() -> None:
    s = get_settings()
    _client().list_queues(request={"parent": f"projects/{s.project}/locations/{s.region}"}, timeout=3)
