"""Secrets. Cloud Run mounts Secret Manager versions as environment variables (declared in Pulumi),
so reading the environment is the one code path; locally the values come from the shell or .env.
A secret that is mounted nowhere is fetched from Secret Manager directly."""
from __future__ import annotations

import os

from shared.settings import get_settings


def get_secret(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value:
        return value
    if os.environ.get("K_SERVICE") or os.environ.get("CLOUD_RUN_JOB"):
        from google.api_core import exceptions
        from google.cloud import secretmanager

        client = secretmanager.SecretManagerServiceClient()
        path = f"projects/{get_settings().project}/secrets/{name.lower().replace('_', '-')}/versions/latest"
        try:
            return client.access_secret_version(name=path).payload.data.decode()
        except exceptions.NotFound:
            return default
    return default
