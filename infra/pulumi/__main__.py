"""Pulumi entry point: `pulumi up` in infra/pulumi (cloudbuild.yaml runs it after pushing the image)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, for `infra` and `shared`

import pulumi  # noqa: E402

from infra.pulumi.program import DeployConfig, build  # noqa: E402

config = pulumi.Config()
gcp_config = pulumi.Config("gcp")
build(DeployConfig(
    project=gcp_config.require("project"),
    region=gcp_config.get("region") or "europe-west1",
    project_number=config.require("projectNumber"),
    image=config.require("image"),
))
