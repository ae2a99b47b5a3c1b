"""Pulumi entry point: `pulumi up` in infra/pulumi (cloudbuild.yaml runs it, once per rollout stage).

Config (namespace `concierge` unless noted):
  gcp:project, gcp:region          where everything goes
  projectNumber                    the project's number (Cloud Run's deterministic URLs)
  image                            the one image every function and job runs (set by cloudbuild.yaml)
  qdrantImage                      Qdrant, mirrored into the Artifact Registry repository (set by cloudbuild.yaml)
  repository                       the Artifact Registry repository id (default concierge; cloudbuild's _REPO)
  rollout                          no-traffic | 10 | 100 (default 100), and release, stable: see program.Rollout
Config secrets (`pulumi config set --secret KEY VALUE`), each the lower-case name of the secret it fills:
  required: db_password, qdrant_api_key, and every secret of resources.yaml not marked optional
            (admin_token, signal_pseudonym_salt)
  optional: anthropic_api_key, places_api_key, reddit_client_id, reddit_client_secret
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, for `infra` and `shared`

import pulumi  # noqa: E402

from infra.pulumi.declaration import load  # noqa: E402
from infra.pulumi.program import DB_PASSWORD, QDRANT_SECRET, DeployConfig, Rollout, build, config_key  # noqa: E402


def secret_values(config: pulumi.Config) -> dict[str, pulumi.Output | None]:
    """Required secrets fail here, naming their config key; optional ones are None when unset."""
    values: dict[str, pulumi.Output | None] = {
        name: config.require_secret(config_key(name)) for name in (DB_PASSWORD, QDRANT_SECRET)
    }
    for grant in load().secret_grants:
        key = config_key(grant.name)
        values[grant.name] = config.get_secret(key) if grant.optional else config.require_secret(key)
    return values


config = pulumi.Config()
gcp_config = pulumi.Config("gcp")
build(DeployConfig(
    project=gcp_config.require("project"),
    region=gcp_config.get("region") or "europe-west1",
    project_number=config.require("projectNumber"),
    image=config.require("image"),
    qdrant_image=config.require("qdrantImage"),
    repository=config.get("repository") or "concierge",
    zone=config.get("zone") or "",
    secret_values=secret_values(config),
    rollout=Rollout.from_config(config.get("rollout"), config.get("release"), config.get_object("stable")),
))
