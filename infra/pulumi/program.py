"""Every cloud resource Concierge runs on, declared from the same sources the local stack reads:
the functions/ and jobs/ folders, resources.yaml and openapi.yaml.

Security model: no Cloud Run service is publicly invokable. The API Gateway's service account invokes
the HTTP functions; Pub/Sub and Cloud Tasks invoke their targets with OIDC tokens of dedicated service
accounts; Cloud Scheduler runs jobs with an OAuth token of its own account. Each function and job runs as
its own service account, granted only what it uses.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.pulumi.declaration import Declaration, load
from infra.pulumi.openapi import backends_named, render

# Project-wide roles, only where no narrower resource exists (Vertex AI custom jobs). Everything else is granted on
# the one topic, subscription, queue, bucket, secret or service account a unit uses (resources.yaml names them).
UNIT_ROLES: dict[str, list[str]] = {
    "train": ["roles/aiplatform.user"],
}
DB_SECRET = "DATABASE_URL"
# Targets of Pub/Sub push and Cloud Tasks only: internal ingress (Pub/Sub and Cloud Tasks of the same project
# count as internal). Gateway backends must accept API Gateway's calls, which arrive from outside; they stay
# unreachable without the gateway's (or an invoker's) identity because no service grants run.invoker widely.
INTERNAL_ONLY = ("signal_sink", "prewarm", "pivot_outcomes")


@dataclass(frozen=True)
class DeployConfig:
    project: str
    region: str
    project_number: str
    image: str


def _sa_id(kind: str, name: str) -> str:
    """Service account ids are 6-30 chars of [a-z0-9-]."""
    return f"{kind}-{name.replace('_', '-')}"[:30]


def service_name(name: str) -> str:
    return f"fn-{name.replace('_', '-')}"


def function_url(cfg: DeployConfig, name: str) -> str:
    return f"https://{service_name(name)}-{cfg.project_number}.{cfg.region}.run.app"


def secrets_of(decl: Declaration, unit: str) -> list[str]:
    """The secrets mounted into a unit: the database URL, and those resources.yaml lists it as a reader of."""
    return [DB_SECRET, *(x.name for x in decl.secret_grants if unit in x.readers)]


def _runtime_env(cfg: DeployConfig, decl: Declaration, data: dict[str, pulumi.Output], unit: str) -> list[dict]:
    env = [
        {"name": "GOOGLE_CLOUD_PROJECT", "value": cfg.project},
        {"name": "GOOGLE_CLOUD_REGION", "value": cfg.region},
        {"name": "REDIS_URL", "value": data["redis_url"]},
        {"name": "QDRANT_URL", "value": data["qdrant_url"]},
        {"name": "TASKS_SERVICE_ACCOUNT", "value": data["tasks_sa_email"]},
    ]
    # Cloud Run URLs are deterministic (https://SERVICE-PROJECT_NUMBER.REGION.run.app), so functions that
    # enqueue tasks for another function (or for themselves) get its URL without a dependency cycle.
    for name in decl.functions:
        env.append({"name": f"FUNCTION_URL_{name.upper()}", "value": function_url(cfg, name)})
    for secret in secrets_of(decl, unit):
        env.append({"name": secret, "value_source": {"secret_key_ref": {"secret": data[f"secret:{secret}"], "version": "latest"}}})
    return env


def build(cfg: DeployConfig, decl: Declaration | None = None) -> dict[str, object]:
    decl = decl or load()
    out: dict[str, object] = {}

    # --- identities ---------------------------------------------------------------------------
    def account(kind: str, name: str, display: str) -> gcp.serviceaccount.Account:
        return gcp.serviceaccount.Account(_sa_id(kind, name), account_id=_sa_id(kind, name), display_name=display)

    gateway_sa = account("gw", "api", "API Gateway backend invoker")
    push_sa = account("push", "pubsub", "Pub/Sub push invoker (OIDC)")
    tasks_sa = account("tasks", "invoker", "Cloud Tasks invoker (OIDC)")
    scheduler_sa = account("sched", "jobs", "Cloud Scheduler job runner")
    unit_sa = {name: account("fn", name, f"function {name}") for name in decl.functions}
    unit_sa.update({name: account("job", name, f"job {name}") for name in decl.jobs})
    def member(unit: str) -> pulumi.Output:
        return unit_sa[unit].email.apply(lambda e: f"serviceAccount:{e}")

    for unit, roles in UNIT_ROLES.items():
        if unit in unit_sa:
            for role in roles:
                gcp.projects.IAMMember(f"{unit}-{role.split('/')[-1]}", project=cfg.project, role=role,
                                       member=member(unit))
    # Vertex AI runs the trainer as the train job's own account: train may act as itself, and no one else.
    if "train" in unit_sa:
        gcp.serviceaccount.IAMMember("train-acts-as-itself", service_account_id=unit_sa["train"].name,
                                     role="roles/iam.serviceAccountUser", member=member("train"))

    # --- data stores ----------------------------------------------------------------------------
    sql = gcp.sql.DatabaseInstance("postgres", database_version="POSTGRES_16", region=cfg.region,
                                   deletion_protection=True,
                                   settings={"tier": "db-custom-2-7680",
                                             "database_flags": [{"name": "cloudsql.enable_pgvector", "value": "on"}]})
    gcp.sql.Database("concierge", instance=sql.name, name="concierge")
    redis = gcp.redis.Instance("cache", memory_size_gb=1, region=cfg.region, tier="BASIC")
    qdrant = gcp.cloudrunv2.Service(
        "qdrant", location=cfg.region, ingress="INGRESS_TRAFFIC_INTERNAL_ONLY", deletion_protection=False,
        template={"containers": [{"image": "qdrant/qdrant:v1.12.4", "ports": {"container_port": 6333}}],
                  "scaling": {"min_instance_count": 1, "max_instance_count": 1}},
    )
    for grant in decl.bucket_grants:
        bucket = gcp.storage.Bucket(f"bucket-{grant.name}", name=f"{cfg.project}-{grant.name}", location=cfg.region,
                                    uniform_bucket_level_access=True, force_destroy=False)
        for role, units in (("roles/storage.objectAdmin", grant.writers), ("roles/storage.objectViewer", grant.readers)):
            for unit in units:
                gcp.storage.BucketIAMMember(f"bucket-{grant.name}-{unit}-{role.split('.')[-1]}", bucket=bucket.name,
                                            role=role, member=member(unit))

    secrets = {}
    for name in [DB_SECRET, *decl.secrets]:
        secrets[name] = gcp.secretmanager.Secret(f"secret-{name.lower()}", secret_id=name.lower().replace("_", "-"),
                                                 replication={"auto": {}})
    for unit in unit_sa:
        for name in secrets_of(decl, unit):
            gcp.secretmanager.SecretIamMember(f"secret-{name.lower()}-{unit}", secret_id=secrets[name].id,
                                              role="roles/secretmanager.secretAccessor", member=member(unit))

    data = {"redis_url": redis.host.apply(lambda h: f"redis://{h}:6379/0"), "qdrant_url": qdrant.uri,
            "tasks_sa_email": tasks_sa.email, **{f"secret:{k}": v.secret_id for k, v in secrets.items()}}

    # --- functions: one Cloud Run service each, all from one image --------------------------------
    services: dict[str, gcp.cloudrunv2.Service] = {}
    for name in decl.functions:
        services[name] = gcp.cloudrunv2.Service(
            service_name(name), name=service_name(name), location=cfg.region,
            ingress="INGRESS_TRAFFIC_INTERNAL_ONLY" if name in INTERNAL_ONLY else "INGRESS_TRAFFIC_ALL",
            deletion_protection=False,
            template={
                "service_account": unit_sa[name].email,
                "containers": [{
                    "image": cfg.image,
                    "envs": [*_runtime_env(cfg, decl, data, name), {"name": "FUNCTION_TARGET", "value": "handle"},
                             {"name": "FUNCTION_SOURCE", "value": f"functions/{name}/main.py"}],
                    "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "cpu_idle": True},
                }],
                "scaling": {"min_instance_count": 0, "max_instance_count": 20},
            },
        )
    # Functions that enqueue Cloud Tasks need their targets' URLs.
    for name, svc in services.items():
        pulumi.export(f"url_{name}", svc.uri)

    def invoker(resource_name: str, service: str, sa: gcp.serviceaccount.Account) -> None:
        gcp.cloudrunv2.ServiceIamMember(resource_name, location=cfg.region, name=services[service].name,
                                        role="roles/run.invoker",
                                        member=sa.email.apply(lambda e: f"serviceAccount:{e}"))

    for name in sorted(backends_named() & set(services)):
        invoker(f"invoke-{name}-by-gateway", name, gateway_sa)

    # --- jobs: one Cloud Run Job each ---------------------------------------------------------------
    jobs: dict[str, gcp.cloudrunv2.Job] = {}
    for name in decl.jobs:
        jobs[name] = gcp.cloudrunv2.Job(
            f"job-{name.replace('_', '-')}", location=cfg.region, deletion_protection=False,
            template={"template": {
                "service_account": unit_sa[name].email,
                "containers": [{"image": cfg.image, "commands": ["python", "-m", f"jobs.{name}.main"],
                                "envs": _runtime_env(cfg, decl, data, name),
                                "resources": {"limits": {"cpu": "2", "memory": "4Gi"}}}],
                "max_retries": 1,
            }},
        )

    # --- Pub/Sub ------------------------------------------------------------------------------------
    topics = {t: gcp.pubsub.Topic(f"topic-{t}", name=t) for t in decl.topics}
    for grant in decl.topic_grants:
        for unit in grant.publishers:
            gcp.pubsub.TopicIAMMember(f"publish-{grant.name}-{unit}", topic=topics[grant.name].name,
                                      role="roles/pubsub.publisher", member=member(unit))
    pubsub_agent = f"serviceAccount:service-{cfg.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
    for sub in decl.subscriptions:
        args: dict = {"name": sub.name, "topic": topics[sub.topic].id, "ack_deadline_seconds": sub.ack_deadline_s,
                      "retry_policy": {"minimum_backoff": f"{sub.min_backoff_s}s", "maximum_backoff": f"{sub.max_backoff_s}s"}}
        if sub.push_to:
            invoker(f"invoke-{sub.push_to}-by-{sub.name}", sub.push_to, push_sa)
            args["push_config"] = {"push_endpoint": services[sub.push_to].uri,
                                   "oidc_token": {"service_account_email": push_sa.email}}
        if sub.dead_letter_topic:
            args["dead_letter_policy"] = {"dead_letter_topic": topics[sub.dead_letter_topic].id,
                                          "max_delivery_attempts": sub.max_delivery_attempts or 5}
            gcp.pubsub.TopicIAMMember(f"dlq-publish-{sub.name}", topic=topics[sub.dead_letter_topic].name,
                                      role="roles/pubsub.publisher", member=pubsub_agent)
        subscription = gcp.pubsub.Subscription(f"sub-{sub.name}", **args)
        for unit in sub.subscribers:
            gcp.pubsub.SubscriptionIAMMember(f"subscribe-{sub.name}-{unit}", subscription=subscription.name,
                                             role="roles/pubsub.subscriber", member=member(unit))
        if sub.dead_letter_topic:
            gcp.pubsub.SubscriptionIAMMember(f"dlq-ack-{sub.name}", subscription=subscription.name,
                                             role="roles/pubsub.subscriber", member=pubsub_agent)

    # --- Cloud Tasks ----------------------------------------------------------------------------------
    # A unit that enqueues may enqueue on its own queues only, and may mint tasks' OIDC tokens only as the tasks
    # invoker account (serviceAccountUser on that one account, never project-wide).
    for queue in decl.queues:
        created = gcp.cloudtasks.Queue(f"queue-{queue.name}", name=queue.name, location=cfg.region,
                                       rate_limits={"max_dispatches_per_second": queue.max_dispatches_per_second,
                                                    "max_concurrent_dispatches": queue.max_concurrent_dispatches},
                                       retry_config={"max_attempts": queue.max_attempts})
        invoker(f"invoke-{queue.target}-by-queue-{queue.name}", queue.target, tasks_sa)
        for unit in queue.enqueued_by:
            gcp.cloudtasks.QueueIamMember(f"enqueue-{queue.name}-{unit}", name=created.name, location=cfg.region,
                                          role="roles/cloudtasks.enqueuer", member=member(unit))
    for unit in sorted({u for q in decl.queues for u in q.enqueued_by}):
        gcp.serviceaccount.IAMMember(f"{unit}-acts-as-tasks-invoker", service_account_id=tasks_sa.name,
                                     role="roles/iam.serviceAccountUser", member=member(unit))

    # --- Cloud Scheduler ------------------------------------------------------------------------------
    for sched in decl.schedules:
        gcp.cloudrunv2.JobIamMember(f"run-{sched.job}-by-{sched.name}", location=cfg.region, name=jobs[sched.job].name,
                                    role="roles/run.invoker",
                                    member=scheduler_sa.email.apply(lambda e: f"serviceAccount:{e}"))
        gcp.cloudscheduler.Job(
            f"schedule-{sched.name}", region=cfg.region, schedule=sched.cron, time_zone=sched.timezone,
            http_target={
                "http_method": "POST",
                "uri": jobs[sched.job].name.apply(
                    lambda n: f"https://run.googleapis.com/v2/projects/{cfg.project}/locations/{cfg.region}/jobs/{n}:run"),
                "oauth_token": {"service_account_email": scheduler_sa.email},
            },
        )

    # --- API Gateway ----------------------------------------------------------------------------------
    urls = pulumi.Output.all(**{name: svc.uri for name, svc in services.items()})
    document = urls.apply(lambda u: base64.b64encode(json.dumps(render(dict(u), cfg.project)).encode()).decode())
    api = gcp.apigateway.Api("api", api_id="concierge")
    api_config = gcp.apigateway.ApiConfig(
        "api-config", api=api.api_id, api_config_id_prefix="concierge-",
        openapi_documents=[{"document": {"path": "openapi.json", "contents": document}}],
        gateway_config={"backend_config": {"google_service_account": gateway_sa.email}},
        opts=pulumi.ResourceOptions(replace_on_changes=["openapi_documents"]),
    )
    gateway = gcp.apigateway.Gateway("gateway", api_config=api_config.id, gateway_id="concierge", region=cfg.region)
    pulumi.export("gateway_url", gateway.default_hostname.apply(lambda h: f"https://{h}"))
    out.update(services=services, jobs=jobs, topics=topics, gateway=gateway)
    return out
