"""Every cloud resource Concierge runs on, declared from the same sources the local stack reads:
the functions/ and jobs/ folders, resources.yaml and openapi.yaml.

Security model: no Cloud Run service is publicly invokable. The API Gateway's service account invokes
the HTTP functions; Pub/Sub and Cloud Tasks invoke their targets with OIDC tokens of dedicated service
accounts (and the handlers check those tokens themselves: shared/api/caller_identity.py); Cloud Scheduler runs
jobs with an OAuth token of its own account. Each function and job runs as its own service account, granted only
what it uses.

Network: one VPC. Units whose code reaches Redis or Qdrant (declaration.units_reaching) get Direct VPC egress on
its subnet, private ranges only, so Google APIs and the Anthropic and Places APIs keep their usual path and no
Cloud NAT is needed. Memorystore is peered into that VPC (authorized_network). Cloud SQL is reached through the
Cloud SQL connector that Cloud Run mounts at /cloudsql (IAM-authorised, encrypted; no private IP, no peering).

Qdrant runs on a Compute Engine VM with a persistent disk, not on Cloud Run: Qdrant needs block storage with a
POSIX file system and does not work on network or object storage (NFS, GCS FUSE), which are the only persistent
volumes Cloud Run offers. The VM has no public address; a firewall rule admits port 6333 only from the network
tag that exactly the units importing shared.adapters.qdrant carry, and Qdrant itself requires the
QDRANT_API_KEY secret, which only those units (and the VM) may read.

Rollout (config `rollout`): every deploy creates each service's new revision under a name derived from the
release, tagged `candidate`; stage `no-traffic` keeps 100% on the stable revision, `10` gives the candidate 10%,
`100` all of it. cloudbuild.yaml drives the stages, migrating and checking health in between.
"""
from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import quote

import pulumi
import pulumi_gcp as gcp

from infra.pulumi.declaration import Declaration, load, units_reaching
from infra.pulumi.openapi import backends_named, render

# Project-wide roles, only where no narrower resource exists. Vertex AI custom jobs have none. The health function's
# probes list buckets and queues and read a topic (shared/health.py): read-only listing exists only project-wide.
# Everything else is granted on the one topic, subscription, queue, bucket, secret or service account a unit uses
# (resources.yaml names them).
UNIT_ROLES: dict[str, list[str]] = {
    "train": ["roles/aiplatform.user"],
    "health": ["roles/pubsub.viewer", "roles/cloudtasks.viewer", "roles/storage.bucketViewer"],
}
# The APIs everything below uses; every resource waits for the ones it needs.
APIS = ("run", "compute", "sqladmin", "redis", "secretmanager", "pubsub", "cloudtasks", "cloudscheduler",
        "apigateway", "servicemanagement", "servicecontrol", "aiplatform", "artifactregistry", "iam",
        "iamcredentials", "storage", "logging", "monitoring")
DB_SECRET = "DATABASE_URL"
QDRANT_SECRET = "QDRANT_API_KEY"
DB_PASSWORD = "DB_PASSWORD"  # not a secret of its own: it goes into the DATABASE_URL secret's value
DB_NAME = DB_USER = "concierge"
CLOUDSQL_MOUNT = "/cloudsql"
REDIS_MODULE = "shared.adapters.redis_cache"
QDRANT_MODULE = "shared.adapters.qdrant"
QDRANT_PORT = 6333
QDRANT_TAG = "qdrant"                 # the VM
QDRANT_CLIENT_TAG = "qdrant-client"   # the Cloud Run units the firewall lets through to it
QDRANT_DEVICE = "qdrant-data"
SUBNET_RANGE = "10.8.0.0/20"          # Direct VPC egress takes one address per instance: room for every max_instances
# Targets of Pub/Sub push and Cloud Tasks only: internal ingress (Pub/Sub and Cloud Tasks of the same project
# count as internal). Gateway backends must accept API Gateway's calls, which arrive from outside; they stay
# unreachable without the gateway's (or an invoker's) identity because no service grants run.invoker widely.
INTERNAL_ONLY = ("signal_sink", "prewarm", "pivot_outcomes", "interaction_sink", "suggest_event_sink",
                 "search_warmup")
STAGES = {"no-traffic": 0, "10": 10, "100": 100}
CANDIDATE_TAG = "candidate"
_REVISION_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


def config_key(secret: str) -> str:
    """The Pulumi config key a secret's value is read from: its name in lower case (ADMIN_TOKEN -> admin_token)."""
    return secret.lower()


@dataclass(frozen=True)
class Rollout:
    """Where this deploy is in the staged rollout, and what serves now (the last release that reached 100%)."""
    stage: str = "100"
    release: str = ""                        # suffix of this deploy's revisions; default: the image tag
    stable_release: str = ""                 # suffix of the revisions serving now; empty on the first deploy
    stable_functions: tuple[str, ...] = ()   # the functions that release deployed (a new one has no stable revision)

    @classmethod
    def from_config(cls, stage: str | None, release: str | None, stable: object) -> Rollout:
        """`stable` is the stack's own `stable` output of the previous update (cloudbuild passes it back)."""
        if isinstance(stable, str):
            stable = json.loads(stable) if stable.strip() else {}
        stable = stable or {}
        return cls(stage=stage or "100", release=release or "", stable_release=str(stable.get("release") or ""),
                   stable_functions=tuple(stable.get("functions") or ()))


@dataclass(frozen=True)
class DeployConfig:
    project: str
    region: str
    project_number: str
    image: str
    qdrant_image: str = ""       # Qdrant mirrored into the repository (the VM has no route to Docker Hub)
    repository: str = "concierge"  # Artifact Registry repository: cloudbuild.yaml's _REPO
    zone: str = ""               # the Qdrant VM and its disk; default <region>-b
    # by secret name (resources.yaml, QDRANT_API_KEY) plus DB_PASSWORD; values are Pulumi config secrets
    secret_values: Mapping[str, pulumi.Input[str] | None] = field(default_factory=dict)
    rollout: Rollout = Rollout()

    @property
    def release(self) -> str:
        """This deploy's revision suffix: given by cloudbuild (commit and build), else the image tag."""
        raw = self.rollout.release or self.image.rsplit(":", 1)[-1]
        return re.sub(r"[^a-z0-9-]+", "-", raw.lower()).strip("-")

    @property
    def qdrant_zone(self) -> str:
        return self.zone or f"{self.region}-b"


def _sa_id(kind: str, name: str) -> str:
    """Service account ids are 6-30 chars of [a-z0-9-]."""
    return f"{kind}-{name.replace('_', '-')}"[:30]


def service_name(name: str) -> str:
    return f"fn-{name.replace('_', '-')}"


def job_name(name: str) -> str:
    """Fixed, so that cloudbuild.yaml can execute job-migrate by name."""
    return f"job-{name.replace('_', '-')}"


def function_url(cfg: DeployConfig, name: str) -> str:
    return f"https://{service_name(name)}-{cfg.project_number}.{cfg.region}.run.app"


def revision_name(name: str, release: str) -> str:
    revision = f"{service_name(name)}-{release}"
    if not _REVISION_NAME.match(revision):
        raise ValueError(f"revision name {revision!r} is not a valid Cloud Run revision name (release {release!r})")
    return revision


def secrets_of(decl: Declaration, unit: str, values: Mapping[str, object] | None = None) -> list[str]:
    """The secrets mounted into a unit: the database URL, the Qdrant key where it reaches Qdrant, and those
    resources.yaml lists it as a reader of, less optional ones that have no value (`values`; None: all)."""
    names = [DB_SECRET]
    if unit in units_reaching(decl, QDRANT_MODULE):
        names.append(QDRANT_SECRET)
    for grant in decl.secret_grants:
        if unit in grant.readers and (values is None or not grant.optional or values.get(grant.name) is not None):
            names.append(grant.name)
    return names


def traffic(rollout: Rollout, name: str, declared: int | None = None) -> list[dict]:
    """The traffic split of one service at this stage: the stable revision keeps 100/90/0%, the candidate gets
    0/10/100%. A service with a declared canary split (resources.yaml `traffic`, `declared` here) gives its
    candidate that share at the canary stage instead of 10%, the same weights the local gateway honours; 0 is a
    rollback (stable keeps everything). A service without a stable revision (first deploy, new function) gives
    its candidate everything."""
    candidate = revision_name(name, rollout.release)
    share = STAGES[rollout.stage]
    if declared is not None and rollout.stage == "10":
        share = declared
    entry = {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": candidate, "tag": CANDIDATE_TAG}
    stable = revision_name(name, rollout.stable_release) if rollout.stable_release else None
    if share == 100 or stable is None or stable == candidate or name not in rollout.stable_functions:
        return [{**entry, "percent": 100}]
    return [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": stable, "percent": 100 - share},
            {**entry, "percent": share}]


def _member(sa: gcp.serviceaccount.Account) -> pulumi.Output:
    return sa.email.apply(lambda e: f"serviceAccount:{e}")


@dataclass
class _Ctx:
    """What the sections of build() share."""
    cfg: DeployConfig
    decl: Declaration
    apis: dict[str, gcp.projects.Service] = field(default_factory=dict)
    unit_sa: dict[str, gcp.serviceaccount.Account] = field(default_factory=dict)
    data: dict[str, object] = field(default_factory=dict)
    versions: list[pulumi.Resource] = field(default_factory=list)

    def after(self, *apis: str, also: list[pulumi.Resource] | None = None, **kw) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(depends_on=[self.apis[a] for a in apis] + list(also or []), **kw)

    def member(self, unit: str) -> pulumi.Output:
        return _member(self.unit_sa[unit])

    @property
    def redis_users(self) -> list[str]:
        return units_reaching(self.decl, REDIS_MODULE)

    @property
    def qdrant_users(self) -> list[str]:
        return units_reaching(self.decl, QDRANT_MODULE)


# --- APIs and the registry -------------------------------------------------------------------------------

def _enable_apis(ctx: _Ctx) -> None:
    """disable_on_destroy=False: tearing the stack down must not switch off APIs other things in the project use."""
    for api in APIS:
        ctx.apis[api] = gcp.projects.Service(f"api-{api}", project=ctx.cfg.project, service=f"{api}.googleapis.com",
                                             disable_on_destroy=False)


def _registry(ctx: _Ctx) -> gcp.artifactregistry.Repository:
    """The image repository cloudbuild.yaml pushes to (its first pulumi step creates just this and its API)."""
    return gcp.artifactregistry.Repository("registry", repository_id=ctx.cfg.repository, location=ctx.cfg.region,
                                           format="DOCKER", description="Concierge images",
                                           opts=ctx.after("artifactregistry"))


# --- identities ------------------------------------------------------------------------------------------

def _identities(ctx: _Ctx) -> dict[str, gcp.serviceaccount.Account]:
    def account(kind: str, name: str, display: str) -> gcp.serviceaccount.Account:
        return gcp.serviceaccount.Account(_sa_id(kind, name), account_id=_sa_id(kind, name), display_name=display,
                                          opts=ctx.after("iam"))

    shared = {"gateway": account("gw", "api", "API Gateway backend invoker"),
              "push": account("push", "pubsub", "Pub/Sub push invoker (OIDC)"),
              "tasks": account("tasks", "invoker", "Cloud Tasks invoker (OIDC)"),
              "scheduler": account("sched", "jobs", "Cloud Scheduler job runner"),
              "qdrant": account("vm", "qdrant", "Qdrant VM")}
    ctx.unit_sa.update({name: account("fn", name, f"function {name}") for name in ctx.decl.functions})
    ctx.unit_sa.update({name: account("job", name, f"job {name}") for name in ctx.decl.jobs})
    for unit, roles in UNIT_ROLES.items():
        for role in roles if unit in ctx.unit_sa else ():
            gcp.projects.IAMMember(f"{unit}-{role.split('/')[-1]}", project=ctx.cfg.project, role=role,
                                   member=ctx.member(unit))
    # Vertex AI runs the trainer as the train job's own account: train may act as itself, and no one else.
    if "train" in ctx.unit_sa:
        gcp.serviceaccount.IAMMember("train-acts-as-itself", service_account_id=ctx.unit_sa["train"].name,
                                     role="roles/iam.serviceAccountUser", member=ctx.member("train"))
    return shared


# --- network ---------------------------------------------------------------------------------------------

def _network(ctx: _Ctx) -> tuple[gcp.compute.Network, gcp.compute.Subnetwork]:
    """Private Google Access on the subnet: the Qdrant VM has no public address and still pulls its image from
    Artifact Registry and reads its key from Secret Manager."""
    network = gcp.compute.Network("vpc", name="concierge", auto_create_subnetworks=False, opts=ctx.after("compute"))
    subnet = gcp.compute.Subnetwork("subnet", name="concierge-run", network=network.id, region=ctx.cfg.region,
                                    ip_cidr_range=SUBNET_RANGE, private_ip_google_access=True,
                                    opts=ctx.after("compute"))
    return network, subnet


def _vpc_access(ctx: _Ctx, unit: str, network, subnet) -> dict | None:
    """Direct VPC egress for the units that reach Redis or Qdrant; only Qdrant's clients carry its firewall tag."""
    if unit not in ctx.redis_users and unit not in ctx.qdrant_users:
        return None
    interface = {"network": network.id, "subnetwork": subnet.id}
    if unit in ctx.qdrant_users:
        interface["tags"] = [QDRANT_CLIENT_TAG]
    return {"network_interfaces": [interface], "egress": "PRIVATE_RANGES_ONLY"}


# --- data stores -----------------------------------------------------------------------------------------

def _cloud_sql(ctx: _Ctx) -> pulumi.Output:
    """The instance, its database and user, and the DATABASE_URL value: asyncpg reads `host=/cloudsql/<connection
    name>` as the directory of the connector's unix socket (.s.PGSQL.5432 in it)."""
    password = ctx.cfg.secret_values.get(DB_PASSWORD)
    if password is None:
        raise ValueError(f"config secret {config_key(DB_PASSWORD)} is required (the database user's password)")
    sql = gcp.sql.DatabaseInstance("postgres", database_version="POSTGRES_16", region=ctx.cfg.region,
                                   deletion_protection=True,
                                   settings={"tier": "db-custom-2-7680",
                                             "database_flags": [{"name": "cloudsql.enable_pgvector", "value": "on"}]},
                                   opts=ctx.after("sqladmin"))
    gcp.sql.Database("concierge", instance=sql.name, name=DB_NAME)
    gcp.sql.User("db-user", instance=sql.name, name=DB_USER, password=password)
    ctx.data["sql_connection"] = sql.connection_name
    ctx.data["sql_name"] = sql.name
    return pulumi.Output.secret(pulumi.Output.all(sql.connection_name, password).apply(
        lambda a: f"postgresql://{DB_USER}:{quote(a[1], safe='')}@/{DB_NAME}?host={CLOUDSQL_MOUNT}/{a[0]}"))


def _grant_cloud_sql(ctx: _Ctx, unit: str) -> None:
    """cloudsql.client has no per-instance binding; an IAM condition narrows it to this one instance."""
    expression = ctx.data["sql_name"].apply(
        lambda n: f'resource.name == "projects/{ctx.cfg.project}/instances/{n}" '
                  f'&& resource.type == "sqladmin.googleapis.com/Instance"')
    gcp.projects.IAMMember(f"{unit}-cloudsql-client", project=ctx.cfg.project, role="roles/cloudsql.client",
                           member=ctx.member(unit),
                           condition={"title": "concierge-instance-only", "expression": expression})


def _redis(ctx: _Ctx, network: gcp.compute.Network) -> None:
    redis = gcp.redis.Instance("cache", memory_size_gb=1, region=ctx.cfg.region, tier="BASIC",
                               authorized_network=network.id, connect_mode="DIRECT_PEERING",
                               opts=ctx.after("redis", "compute"))
    ctx.data["redis_url"] = redis.host.apply(lambda h: f"redis://{h}:6379/0")


def _secrets(ctx: _Ctx, database_url: pulumi.Output) -> dict[str, gcp.secretmanager.Secret]:
    """Every secret gets its version from Pulumi config (or, for DATABASE_URL, from the instance); an optional
    one without a value is created empty and mounted nowhere."""
    values = {**ctx.cfg.secret_values, DB_SECRET: database_url}
    required = [DB_SECRET, QDRANT_SECRET, *(g.name for g in ctx.decl.secret_grants if not g.optional)]
    missing = [config_key(n) for n in required if values.get(n) is None]
    if missing:
        raise ValueError(f"config secrets required: {', '.join(missing)} (pulumi config set --secret KEY VALUE)")
    secrets = {}
    for name in [DB_SECRET, QDRANT_SECRET, *ctx.decl.secrets]:
        secrets[name] = gcp.secretmanager.Secret(f"secret-{name.lower()}", secret_id=name.lower().replace("_", "-"),
                                                 replication={"auto": {}}, opts=ctx.after("secretmanager"))
        if values.get(name) is not None:
            ctx.versions.append(gcp.secretmanager.SecretVersion(
                f"secret-{name.lower()}-value", secret=secrets[name].id,
                secret_data=pulumi.Output.secret(values[name])))
    for unit in ctx.unit_sa:
        for name in secrets_of(ctx.decl, unit, values):
            gcp.secretmanager.SecretIamMember(f"secret-{name.lower()}-{unit}", secret_id=secrets[name].id,
                                              role="roles/secretmanager.secretAccessor", member=ctx.member(unit))
    ctx.data.update({f"secret:{k}": v.secret_id for k, v in secrets.items()})
    return secrets


def _qdrant_startup(cfg: DeployConfig, secret_id: str) -> str:
    """COS boot script: format the data disk once, mount it, fetch the API key, run Qdrant on it."""
    registry = f"{cfg.region}-docker.pkg.dev"
    return "\n".join([
        "#!/bin/bash",
        "set -euo pipefail",
        f"DEV=/dev/disk/by-id/google-{QDRANT_DEVICE}",
        "MNT=/mnt/disks/qdrant",
        'blkid "$DEV" >/dev/null || mkfs.ext4 -m 0 -E lazy_itable_init=0,lazy_journal_init=0,discard "$DEV"',
        'mkdir -p "$MNT"',
        'mountpoint -q "$MNT" || mount -o discard,defaults "$DEV" "$MNT"',
        "META=http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token",
        'TOKEN=$(curl -sf -H "Metadata-Flavor: Google" "$META" | sed -nE \'s/.*"access_token": *"([^"]+)".*/\\1/p\')',
        f'KEY=$(curl -sf -H "Authorization: Bearer $TOKEN" "https://secretmanager.googleapis.com/v1/projects/'
        f'{cfg.project}/secrets/{secret_id}/versions/latest:access" '
        '| sed -nE \'s/.*"data": *"([^"]+)".*/\\1/p\' | base64 -d)',
        "export DOCKER_CONFIG=/var/lib/qdrant-docker",
        f'echo "$TOKEN" | docker login -u oauth2accesstoken --password-stdin https://{registry}',
        "docker rm -f qdrant 2>/dev/null || true",
        f'docker run -d --name qdrant --restart=always -p {QDRANT_PORT}:{QDRANT_PORT} -v "$MNT:/qdrant/storage" '
        f'-e QDRANT__SERVICE__API_KEY="$KEY" {cfg.qdrant_image}',
    ]) + "\n"


def _qdrant(ctx: _Ctx, network, subnet, vm_sa, key: gcp.secretmanager.Secret,
            registry: gcp.artifactregistry.Repository) -> None:
    """Qdrant on a VM with a persistent disk (why not Cloud Run: see the module docstring). The disk is protected:
    replacing the VM (a new Qdrant image) keeps the data."""
    cfg = ctx.cfg
    if not cfg.qdrant_image:
        raise ValueError("config qdrantImage is required (cloudbuild.yaml mirrors Qdrant into the repository)")
    gcp.secretmanager.SecretIamMember("secret-qdrant_api_key-vm", secret_id=key.id,
                                      role="roles/secretmanager.secretAccessor", member=_member(vm_sa))
    gcp.artifactregistry.RepositoryIamMember("registry-read-by-qdrant", repository=registry.name,
                                             location=cfg.region, role="roles/artifactregistry.reader",
                                             member=_member(vm_sa))
    address = gcp.compute.Address("qdrant-ip", name="qdrant", address_type="INTERNAL", subnetwork=subnet.id,
                                  region=cfg.region, opts=ctx.after("compute"))
    disk = gcp.compute.Disk("qdrant-data", name="qdrant-data", type="pd-balanced", size=50, zone=cfg.qdrant_zone,
                            opts=ctx.after("compute", protect=True))
    gcp.compute.Instance(
        "qdrant", name="qdrant", machine_type="e2-standard-2", zone=cfg.qdrant_zone, tags=[QDRANT_TAG],
        boot_disk={"initialize_params": {"image": "cos-cloud/cos-stable", "size": 20}},
        attached_disks=[{"source": disk.self_link, "device_name": QDRANT_DEVICE}],
        network_interfaces=[{"network": network.id, "subnetwork": subnet.id, "network_ip": address.address}],
        service_account={"email": vm_sa.email, "scopes": ["cloud-platform"]},
        shielded_instance_config={"enable_secure_boot": True, "enable_vtpm": True, "enable_integrity_monitoring": True},
        metadata_startup_script=key.secret_id.apply(lambda s: _qdrant_startup(cfg, s)),
        allow_stopping_for_update=True,
        opts=ctx.after("compute", also=ctx.versions, delete_before_replace=True),
    )
    gcp.compute.Firewall("qdrant-from-clients", network=network.id, direction="INGRESS",
                         allows=[{"protocol": "tcp", "ports": [str(QDRANT_PORT)]}],
                         source_tags=[QDRANT_CLIENT_TAG], target_tags=[QDRANT_TAG], opts=ctx.after("compute"))
    ctx.data["qdrant_url"] = address.address.apply(lambda a: f"http://{a}:{QDRANT_PORT}")


def _buckets(ctx: _Ctx) -> None:
    for grant in ctx.decl.bucket_grants:
        bucket = gcp.storage.Bucket(f"bucket-{grant.name}", name=f"{ctx.cfg.project}-{grant.name}",
                                    location=ctx.cfg.region, uniform_bucket_level_access=True, force_destroy=False,
                                    opts=ctx.after("storage"))
        for role, units in (("roles/storage.objectAdmin", grant.writers), ("roles/storage.objectViewer", grant.readers)):
            for unit in units:
                gcp.storage.BucketIAMMember(f"bucket-{grant.name}-{unit}-{role.split('.')[-1]}", bucket=bucket.name,
                                            role=role, member=ctx.member(unit))


# --- what every unit's container gets ----------------------------------------------------------------------

def _runtime_env(ctx: _Ctx, unit: str) -> list[dict]:
    cfg, data = ctx.cfg, ctx.data
    env = [
        {"name": "GOOGLE_CLOUD_PROJECT", "value": cfg.project},
        {"name": "GOOGLE_CLOUD_REGION", "value": cfg.region},
        {"name": "TASKS_SERVICE_ACCOUNT", "value": data["tasks_sa_email"]},
        {"name": "PUSH_SERVICE_ACCOUNT", "value": data["push_sa_email"]},
        {"name": "CALLER_AUTH", "value": "oidc"},  # push and task handlers verify their caller's ID token
    ]
    if unit in ctx.redis_users:
        env.append({"name": "REDIS_URL", "value": data["redis_url"]})
    if unit in ctx.qdrant_users:
        env.append({"name": "QDRANT_URL", "value": data["qdrant_url"]})
    # Cloud Run URLs are deterministic (https://SERVICE-PROJECT_NUMBER.REGION.run.app), so functions that
    # enqueue tasks for another function (or for themselves) get its URL without a dependency cycle.
    for name in ctx.decl.functions:
        env.append({"name": f"FUNCTION_URL_{name.upper()}", "value": function_url(cfg, name)})
    for secret in secrets_of(ctx.decl, unit, ctx.cfg.secret_values):
        env.append({"name": secret,
                    "value_source": {"secret_key_ref": {"secret": data[f"secret:{secret}"], "version": "latest"}}})
    return env


def _volumes(ctx: _Ctx, unit: str) -> tuple[list[dict], list[dict]]:
    """(volumes, mounts): the Cloud SQL connector for every unit (each holds DATABASE_URL), and the buckets that
    resources.yaml mounts into their readers."""
    volumes = [{"name": "cloudsql", "cloud_sql_instance": {"instances": [ctx.data["sql_connection"]]}}]
    mounts = [{"name": "cloudsql", "mount_path": CLOUDSQL_MOUNT}]
    for grant in ctx.decl.bucket_grants:
        if grant.mount and unit in grant.readers:
            volumes.append({"name": grant.name, "gcs": {"bucket": f"{ctx.cfg.project}-{grant.name}", "read_only": True}})
            mounts.append({"name": grant.name, "mount_path": grant.mount})
    return volumes, mounts


def _template(ctx: _Ctx, unit: str, network, subnet) -> tuple[dict, list[dict]]:
    """(template fields, container volume mounts) that a service's revision template and a job's task template
    share. GEN2: GCS volumes need it."""
    volumes, mounts = _volumes(ctx, unit)
    template = {"service_account": ctx.unit_sa[unit].email, "volumes": volumes,
                "execution_environment": "EXECUTION_ENVIRONMENT_GEN2"}
    vpc = _vpc_access(ctx, unit, network, subnet)
    if vpc:
        template["vpc_access"] = vpc
    return template, mounts


def _services(ctx: _Ctx, network, subnet) -> dict[str, gcp.cloudrunv2.Service]:
    cfg = ctx.cfg
    rollout = replace(cfg.rollout, release=cfg.release)
    if rollout.stage not in STAGES:
        raise ValueError(f"config rollout must be one of {sorted(STAGES)}, not {rollout.stage!r}")
    services: dict[str, gcp.cloudrunv2.Service] = {}
    for name in ctx.decl.functions:
        template, mounts = _template(ctx, name, network, subnet)
        services[name] = gcp.cloudrunv2.Service(
            service_name(name), name=service_name(name), location=cfg.region,
            ingress="INGRESS_TRAFFIC_INTERNAL_ONLY" if name in INTERNAL_ONLY else "INGRESS_TRAFFIC_ALL",
            deletion_protection=False,
            template={
                **template,
                "revision": revision_name(name, rollout.release),
                "containers": [{
                    "image": cfg.image,
                    "envs": [*_runtime_env(ctx, name), {"name": "FUNCTION_TARGET", "value": "handle"},
                             {"name": "FUNCTION_SOURCE", "value": f"functions/{name}/main.py"}],
                    "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "cpu_idle": True},
                    "volume_mounts": mounts,
                }],
                "scaling": {"min_instance_count": 0, "max_instance_count": 20},
            },
            traffics=traffic(rollout, name, ctx.decl.candidate_percent(name)),
            opts=ctx.after("run", also=ctx.versions),
        )
    for name, svc in services.items():
        pulumi.export(f"url_{name}", svc.uri)
    ctx.data["rollout"] = _export_rollout(ctx, rollout, services)
    return services


def _candidate_uri(statuses) -> str:
    return next((s.get("uri") for s in statuses or [] if s.get("tag") == CANDIDATE_TAG), None) or "-"


def _export_rollout(ctx: _Ctx, rollout: Rollout, services: dict[str, gcp.cloudrunv2.Service]) -> dict[str, object]:
    """`candidates`: one line per function for cloudbuild's checks (function, service, candidate revision,
    candidate URL, service URL, public|internal, stable revision or -). `stable`: what serves 100% after this
    update, which the next deploy passes back as config `stable`."""
    def line(name: str, uri: str) -> str:
        split = traffic(rollout, name, ctx.decl.candidate_percent(name))
        stable = split[0]["revision"] if len(split) == 2 else "-"
        return " ".join([name, service_name(name), revision_name(name, rollout.release), uri,
                         function_url(ctx.cfg, name), "internal" if name in INTERNAL_ONLY else "public", stable])

    uris = pulumi.Output.all(**{n: s.traffic_statuses.apply(_candidate_uri) for n, s in services.items()})
    candidates = uris.apply(lambda u: "\n".join(line(n, u[n]) for n in ctx.decl.functions))
    if rollout.stage == "100":
        stable = {"release": rollout.release, "functions": list(ctx.decl.functions)}
    else:
        stable = {"release": rollout.stable_release, "functions": list(rollout.stable_functions)}
    exported = {"candidates": candidates, "stable": stable, "rollout": {"stage": rollout.stage, "release": rollout.release}}
    for key, value in exported.items():
        pulumi.export(key, value)
    return exported


def _jobs(ctx: _Ctx, network, subnet) -> dict[str, gcp.cloudrunv2.Job]:
    jobs: dict[str, gcp.cloudrunv2.Job] = {}
    for name in ctx.decl.jobs:
        template, mounts = _template(ctx, name, network, subnet)
        jobs[name] = gcp.cloudrunv2.Job(
            job_name(name), name=job_name(name), location=ctx.cfg.region, deletion_protection=False,
            template={"template": {
                **template,
                "containers": [{"image": ctx.cfg.image, "commands": ["python", "-m", f"jobs.{name}.main"],
                                "envs": _runtime_env(ctx, name), "volume_mounts": mounts,
                                "resources": {"limits": {"cpu": "2", "memory": "4Gi"}}}],
                "max_retries": 1,
            }},
            opts=ctx.after("run", also=ctx.versions),
        )
    return jobs


# --- messaging, queues, schedules ----------------------------------------------------------------------------

def _invoker(ctx: _Ctx, services, resource_name: str, service: str, sa: gcp.serviceaccount.Account) -> None:
    gcp.cloudrunv2.ServiceIamMember(resource_name, location=ctx.cfg.region, name=services[service].name,
                                    role="roles/run.invoker", member=_member(sa))


def _pubsub(ctx: _Ctx, services, push_sa) -> dict[str, gcp.pubsub.Topic]:
    """Push subscriptions carry an OIDC token whose audience is the target's URL, the one its handler expects."""
    cfg, decl = ctx.cfg, ctx.decl
    topics = {t: gcp.pubsub.Topic(f"topic-{t}", name=t, opts=ctx.after("pubsub")) for t in decl.topics}
    for grant in decl.topic_grants:
        for unit in grant.publishers:
            gcp.pubsub.TopicIAMMember(f"publish-{grant.name}-{unit}", topic=topics[grant.name].name,
                                      role="roles/pubsub.publisher", member=ctx.member(unit))
    pubsub_agent = f"serviceAccount:service-{cfg.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
    for sub in decl.subscriptions:
        args: dict = {"name": sub.name, "topic": topics[sub.topic].id, "ack_deadline_seconds": sub.ack_deadline_s,
                      "retry_policy": {"minimum_backoff": f"{sub.min_backoff_s}s", "maximum_backoff": f"{sub.max_backoff_s}s"}}
        if sub.push_to:
            _invoker(ctx, services, f"invoke-{sub.push_to}-by-{sub.name}", sub.push_to, push_sa)
            url = function_url(cfg, sub.push_to)
            args["push_config"] = {"push_endpoint": url,
                                   "oidc_token": {"service_account_email": push_sa.email, "audience": url}}
        if sub.dead_letter_topic:
            args["dead_letter_policy"] = {"dead_letter_topic": topics[sub.dead_letter_topic].id,
                                          "max_delivery_attempts": sub.max_delivery_attempts or 5}
            gcp.pubsub.TopicIAMMember(f"dlq-publish-{sub.name}", topic=topics[sub.dead_letter_topic].name,
                                      role="roles/pubsub.publisher", member=pubsub_agent)
        subscription = gcp.pubsub.Subscription(f"sub-{sub.name}", **args, opts=ctx.after("pubsub"))
        for unit in sub.subscribers:
            gcp.pubsub.SubscriptionIAMMember(f"subscribe-{sub.name}-{unit}", subscription=subscription.name,
                                             role="roles/pubsub.subscriber", member=ctx.member(unit))
        if sub.dead_letter_topic:
            gcp.pubsub.SubscriptionIAMMember(f"dlq-ack-{sub.name}", subscription=subscription.name,
                                             role="roles/pubsub.subscriber", member=pubsub_agent)
    return topics


def _tasks(ctx: _Ctx, services, tasks_sa) -> None:
    """A unit that enqueues may enqueue on its own queues only, and may mint tasks' OIDC tokens only as the tasks
    invoker account (serviceAccountUser on that one account, never project-wide)."""
    for queue in ctx.decl.queues:
        created = gcp.cloudtasks.Queue(f"queue-{queue.name}", name=queue.name, location=ctx.cfg.region,
                                       rate_limits={"max_dispatches_per_second": queue.max_dispatches_per_second,
                                                    "max_concurrent_dispatches": queue.max_concurrent_dispatches},
                                       retry_config={"max_attempts": queue.max_attempts},
                                       opts=ctx.after("cloudtasks"))
        _invoker(ctx, services, f"invoke-{queue.target}-by-queue-{queue.name}", queue.target, tasks_sa)
        for unit in queue.enqueued_by:
            gcp.cloudtasks.QueueIamMember(f"enqueue-{queue.name}-{unit}", name=created.name, location=ctx.cfg.region,
                                          role="roles/cloudtasks.enqueuer", member=ctx.member(unit))
    for unit in sorted({u for q in ctx.decl.queues for u in q.enqueued_by}):
        gcp.serviceaccount.IAMMember(f"{unit}-acts-as-tasks-invoker", service_account_id=tasks_sa.name,
                                     role="roles/iam.serviceAccountUser", member=ctx.member(unit))


def _schedules(ctx: _Ctx, jobs, scheduler_sa) -> None:
    cfg = ctx.cfg
    for sched in ctx.decl.schedules:
        gcp.cloudrunv2.JobIamMember(f"run-{sched.job}-by-{sched.name}", location=cfg.region, name=jobs[sched.job].name,
                                    role="roles/run.invoker", member=_member(scheduler_sa))
        gcp.cloudscheduler.Job(
            f"schedule-{sched.name}", region=cfg.region, schedule=sched.cron, time_zone=sched.timezone,
            http_target={
                "http_method": "POST",
                "uri": jobs[sched.job].name.apply(
                    lambda n: f"https://run.googleapis.com/v2/projects/{cfg.project}/locations/{cfg.region}/jobs/{n}:run"),
                "oauth_token": {"service_account_email": scheduler_sa.email},
            },
            opts=ctx.after("cloudscheduler"),
        )


def _gateway(ctx: _Ctx, services, gateway_sa) -> gcp.apigateway.Gateway:
    """The API's own managed service must be enabled too, or the gateway answers every call with 403."""
    for name in sorted(backends_named() & set(services)):
        _invoker(ctx, services, f"invoke-{name}-by-gateway", name, gateway_sa)
    urls = pulumi.Output.all(**{name: svc.uri for name, svc in services.items()})
    document = urls.apply(lambda u: base64.b64encode(json.dumps(render(dict(u), ctx.cfg.project)).encode()).decode())
    api = gcp.apigateway.Api("api", api_id="concierge", opts=ctx.after("apigateway", "servicemanagement"))
    managed = gcp.projects.Service("api-managed-service", project=ctx.cfg.project, service=api.managed_service,
                                   disable_on_destroy=False, opts=ctx.after("servicecontrol"))
    api_config = gcp.apigateway.ApiConfig(
        "api-config", api=api.api_id, api_config_id_prefix="concierge-",
        openapi_documents=[{"document": {"path": "openapi.json", "contents": document}}],
        gateway_config={"backend_config": {"google_service_account": gateway_sa.email}},
        opts=pulumi.ResourceOptions(replace_on_changes=["openapi_documents"], depends_on=[managed]),
    )
    gateway = gcp.apigateway.Gateway("gateway", api_config=api_config.id, gateway_id="concierge",
                                     region=ctx.cfg.region, opts=pulumi.ResourceOptions(depends_on=[managed]))
    pulumi.export("gateway_url", gateway.default_hostname.apply(lambda h: f"https://{h}"))
    return gateway


# --- monitoring ------------------------------------------------------------------------------------------
# The recommendations function writes one structured JSON line per request (shared/api/metrics.py): these
# log-based metrics turn those lines into the same figures its /metrics endpoint serves, for Cloud Monitoring.
RECS_LOG_FILTER = (f'resource.type="cloud_run_revision" AND resource.labels.service_name="{service_name("recommendations")}" '
                   'AND jsonPayload.logger="concierge.recommendations" AND jsonPayload.route:*')
RECS_P99_ALERT_MS = 20.0


def _monitoring(ctx: _Ctx) -> dict[str, object]:
    opts = ctx.after("logging", "monitoring")
    labels = [{"key": key, "value_type": "STRING"} for key in ("route", "catalogue", "served_by", "status")]
    extractors = {key: f"EXTRACT(jsonPayload.{path})" for key, path in
                  (("route", "route"), ("catalogue", "catalogue"), ("served_by", "served_by"),
                   ("status", "httpRequest.status"))}
    requests = gcp.logging.Metric(
        "recs-requests", name="recs_requests", filter=RECS_LOG_FILTER, label_extractors=extractors,
        metric_descriptor={"metric_kind": "DELTA", "value_type": "INT64", "labels": labels}, opts=opts)
    latency = gcp.logging.Metric(
        "recs-latency", name="recs_request_latency_ms", filter=RECS_LOG_FILTER,
        value_extractor="EXTRACT(jsonPayload.latency_ms)", label_extractors=extractors,
        metric_descriptor={"metric_kind": "DELTA", "value_type": "DISTRIBUTION", "unit": "ms", "labels": labels},
        bucket_options={"exponential_buckets": {"num_finite_buckets": 24, "growth_factor": 1.6, "scale": 0.1}},
        opts=opts)
    cache = gcp.logging.Metric(
        "recs-cache", name="recs_cache_lookups", filter=RECS_LOG_FILTER + " AND jsonPayload.cache_hit:*",
        label_extractors={"hit": "EXTRACT(jsonPayload.cache_hit)", "catalogue": "EXTRACT(jsonPayload.catalogue)"},
        metric_descriptor={"metric_kind": "DELTA", "value_type": "INT64",
                           "labels": [{"key": "hit", "value_type": "STRING"},
                                      {"key": "catalogue", "value_type": "STRING"}]}, opts=opts)

    def chart(title: str, metric: str, aligner: str, reducer: str, group_by: list[str]) -> dict:
        return {"title": title, "xyChart": {"dataSets": [{"timeSeriesQuery": {"timeSeriesFilter": {
            "filter": f'metric.type="logging.googleapis.com/user/{metric}"',
            "aggregation": {"alignmentPeriod": "60s", "perSeriesAligner": aligner, "crossSeriesReducer": reducer,
                            "groupByFields": group_by}}}, "plotType": "LINE"}]}}

    dashboard = gcp.monitoring.Dashboard("recs-dashboard", dashboard_json=json.dumps({
        "displayName": "Concierge recommendations",
        "gridLayout": {"columns": 2, "widgets": [
            chart("Requests per minute by route", "recs_requests", "ALIGN_RATE", "REDUCE_SUM", ["metric.label.route"]),
            chart("Latency p99 (ms) by route", "recs_request_latency_ms", "ALIGN_PERCENTILE_99", "REDUCE_MAX",
                  ["metric.label.route"]),
            chart("Lists by serving model (fallbacks show here)", "recs_requests", "ALIGN_RATE", "REDUCE_SUM",
                  ["metric.label.served_by"]),
            chart("Cache lookups by outcome", "recs_cache_lookups", "ALIGN_RATE", "REDUCE_SUM", ["metric.label.hit"]),
        ]}}), opts=pulumi.ResourceOptions(depends_on=[requests, latency, cache]))
    alert = gcp.monitoring.AlertPolicy(
        "recs-latency-alert", display_name="Recommendations p99 latency above 20 ms", combiner="OR",
        conditions=[{"display_name": "p99 of recs_request_latency_ms over 5 minutes",
                     "condition_threshold": {
                         "filter": 'metric.type="logging.googleapis.com/user/recs_request_latency_ms" AND '
                                   'resource.type="cloud_run_revision"',
                         "comparison": "COMPARISON_GT", "threshold_value": RECS_P99_ALERT_MS, "duration": "300s",
                         "aggregations": [{"alignment_period": "300s", "per_series_aligner": "ALIGN_PERCENTILE_99",
                                           "cross_series_reducer": "REDUCE_MAX"}]}}],
        documentation={"content": "The recommendations function's p99 latency is above its 20 ms budget. Check "
                                  "the dashboard's fallback chart (a model failing moves traffic down the chain) "
                                  "and the cache chart (a promotion empties the cache).", "mime_type": "text/markdown"},
        opts=pulumi.ResourceOptions(depends_on=[latency]))
    return {"dashboard": dashboard, "alert": alert}


# The suggest function writes one structured JSON line per request (functions/suggest/main.py): log-based metrics
# over them and the three alert policies of shared/api/suggest_metrics.ALERT_RULES (the thresholds are read from
# there, so `python -m emulators.suggest_alerts` evaluates exactly these rules on a local /metrics).
SUGGEST_LOG_FILTER = (f'resource.type="cloud_run_revision" AND resource.labels.service_name="{service_name("suggest")}" '
                      'AND jsonPayload.logger="concierge.suggest" AND jsonPayload.route:*')


def _suggest_monitoring(ctx: _Ctx) -> dict[str, object]:
    from shared.api.suggest_metrics import COVERAGE, ERROR_RATE, LATENCY_P99_S, SUGGEST_ROUTE

    opts = ctx.after("logging", "monitoring")
    keys = (("route", "route"), ("status", "httpRequest.status"), ("fallback", "fallback"), ("arm", "arm"))
    labels = [{"key": key, "value_type": "STRING"} for key, _ in keys]
    extractors = {key: f"EXTRACT(jsonPayload.{path})" for key, path in keys}
    requests = gcp.logging.Metric(
        "suggest-requests", name="suggest_requests", filter=SUGGEST_LOG_FILTER, label_extractors=extractors,
        metric_descriptor={"metric_kind": "DELTA", "value_type": "INT64", "labels": labels}, opts=opts)
    latency = gcp.logging.Metric(
        "suggest-latency", name="suggest_request_latency_ms", filter=SUGGEST_LOG_FILTER,
        value_extractor="EXTRACT(jsonPayload.latency_ms)", label_extractors=extractors,
        metric_descriptor={"metric_kind": "DELTA", "value_type": "DISTRIBUTION", "unit": "ms", "labels": labels},
        bucket_options={"exponential_buckets": {"num_finite_buckets": 24, "growth_factor": 1.6, "scale": 0.1}},
        opts=opts)
    metric = 'metric.type="logging.googleapis.com/user/{}" AND resource.type="cloud_run_revision"'
    route = f' AND metric.label.route="{SUGGEST_ROUTE}"'
    window = [{"alignment_period": "300s", "per_series_aligner": "ALIGN_SUM", "cross_series_reducer": "REDUCE_SUM"}]
    after = pulumi.ResourceOptions(depends_on=[requests, latency])

    def policy(rule, condition: dict, doc: str):
        return gcp.monitoring.AlertPolicy(
            f"{rule.name}-alert", display_name=f"Suggest: {rule.description}", combiner="OR",
            conditions=[{"display_name": rule.description, "condition_threshold": {"duration": "300s", **condition}}],
            documentation={"content": doc, "mime_type": "text/markdown"}, opts=after)

    alerts = {
        "latency": policy(LATENCY_P99_S, {
            "filter": metric.format("suggest_request_latency_ms") + route, "comparison": "COMPARISON_GT",
            "threshold_value": LATENCY_P99_S.threshold * 1000,
            "aggregations": [{"alignment_period": "300s", "per_series_aligner": "ALIGN_PERCENTILE_99",
                              "cross_series_reducer": "REDUCE_MAX"}]},
            "POST /v1/suggest is slower than its 150 ms budget at p99. A slow registry or a model that keeps "
            "timing out shows as a coverage drop too."),
        "errors": policy(ERROR_RATE, {
            "filter": metric.format("suggest_requests") + ' AND metric.label.status=monitoring.regex.full_match("5..")',
            "denominator_filter": metric.format("suggest_requests"), "comparison": "COMPARISON_GT",
            "threshold_value": ERROR_RATE.threshold, "aggregations": window, "denominator_aggregations": window},
            "More than 1% of suggest and events requests answer 5xx (Pub/Sub or Postgres unavailable, or a bug)."),
        "coverage": policy(COVERAGE, {
            "filter": metric.format("suggest_requests") + route + ' AND metric.label.fallback="false"',
            "denominator_filter": metric.format("suggest_requests") + route + ' AND metric.label.status="200"',
            "comparison": "COMPARISON_LT", "threshold_value": COVERAGE.threshold, "aggregations": window,
            "denominator_aggregations": window},
            "Under 80% of suggestion lists are ranked by a model: an arm's production model is missing, failing "
            "or timing out (the fallback reasons are in /metrics and the request log)."),
    }
    return {f"suggest_{k}_alert": v for k, v in alerts.items()}


def build(cfg: DeployConfig, decl: Declaration | None = None) -> dict[str, object]:
    ctx = _Ctx(cfg=cfg, decl=decl or load())
    _enable_apis(ctx)
    registry = _registry(ctx)
    accounts = _identities(ctx)
    network, subnet = _network(ctx)
    database_url = _cloud_sql(ctx)
    for unit in ctx.unit_sa:
        _grant_cloud_sql(ctx, unit)
    _redis(ctx, network)
    secrets = _secrets(ctx, database_url)
    _qdrant(ctx, network, subnet, accounts["qdrant"], secrets[QDRANT_SECRET], registry)
    _buckets(ctx)
    ctx.data.update(tasks_sa_email=accounts["tasks"].email, push_sa_email=accounts["push"].email)

    services = _services(ctx, network, subnet)
    jobs = _jobs(ctx, network, subnet)
    topics = _pubsub(ctx, services, accounts["push"])
    _tasks(ctx, services, accounts["tasks"])
    _schedules(ctx, jobs, accounts["scheduler"])
    gateway = _gateway(ctx, services, accounts["gateway"])
    monitoring = {**_monitoring(ctx), **_suggest_monitoring(ctx)}
    return {"services": services, **monitoring, "jobs": jobs, "topics": topics, "gateway": gateway, "registry": registry,
            **ctx.data["rollout"]}
