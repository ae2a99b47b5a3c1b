"""Secrets. Cloud Run mounts Secret Manager versions as environment variables (declared in Pulumi),
so reading the environment is the one code path; locally the values come from the shell or .env.
A secret that is mounted nowhere is fetched from Secret Manager directly; when that cannot be read (no
credentials, no permission, the service down) the caller gets SecretUnavailable, which says what to fix and
which the function layer answers as a 503, never a 500."""
from __future__ import annotations

import os

from shared.settings import get_settings


class SecretUnavailable(RuntimeError):
    def __init__(self, name: str, reason: str):
        super().__init__(f"secret {name} could not be read from Secret Manager ({reason}); mount it as an environment "
                         "variable or grant this service account roles/secretmanager.secretAccessor on it")
        self.name = name


def get_secret(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value:
        return value
    if os.environ.get("K_SERVICE") or os.environ.get("CLOUD_RUN_JOB"):
        from google.api_core import exceptions
        from google.auth.exceptions import GoogleAuthError
        from google.cloud import secretmanager

        path = f"projects/{get_settings().project}/secrets/{name.lower().replace('_', '-')}/versions/latest"
        try:
            client = secretmanager.SecretManagerServiceClient()
            return client.access_secret_version(name=path, timeout=5.0).payload.data.decode()
        except exceptions.NotFound:
            return default
        except (GoogleAuthError, exceptions.GoogleAPIError) as exc:
            raise SecretUnavailable(name, type(exc).__name__) from None
    return default
