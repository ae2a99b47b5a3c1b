"""The Pulumi program under pulumi.runtime mocks (no Pulumi CLI, no cloud): what it declares and how
the pieces are allowed to call each other, how the units reach their stores, and how a release rolls out."""
from __future__ import annotations

import asyncio
import inspect
import re
from dataclasses import dataclass, field
from urllib.parse import quote

import pulumi
import pytest
import yaml
from pulumi.runtime.mocks import MockMonitor

from infra.pulumi.declaration import REPO_ROOT, load, units_reaching
from infra.pulumi.openapi import backends_named

PASSWORD = "p@ss/w:rd"  # characters a URL must escape
CONNECTION = "proj:europe-west1:postgres-123"
REQUIRED = {"DB_PASSWORD": PASSWORD, "QDRANT_API_KEY": "qdrant-key", "ADMIN_TOKEN": "admin",
            "SIGNAL_PSEUDONYM_SALT": "salt"}
IMAGE = "europe-docker.pkg.dev/proj/concierge/app:sha"


class RecordingMocks(pulumi.runtime.Mocks):
    """Answers like the provider would for the outputs the program reads back."""

    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append(args)
        outputs = dict(args.inputs)
        if args.typ == "gcp:serviceaccount/account:Account":
            outputs["email"] = f"{args.inputs['accountId']}@proj.iam.gserviceaccount.com"
        if args.typ == "gcp:cloudrunv2/service:Service":
            outputs["uri"] = f"https://{args.name}-abc-ew.a.run.app"
            outputs.setdefault("name", args.name)
            outputs["trafficStatuses"] = [
                {**t, "uri": f"https://{t['tag']}---{args.name}-abc-ew.a.run.app"} if t.get("tag") else t
                for t in args.inputs.get("traffics", [])]
        if args.typ == "gcp:cloudrunv2/job:Job":
            outputs.setdefault("name", args.name)
        if args.typ == "gcp:redis/instance:Instance":
            outputs["host"] = "10.0.0.3"
        if args.typ == "gcp:sql/databaseInstance:DatabaseInstance":
            outputs.update(name="postgres-123", connectionName=CONNECTION)
        if args.typ == "gcp:compute/address:Address":
            outputs["address"] = "10.8.0.5"
        if args.typ == "gcp:compute/disk:Disk":
            outputs["selfLink"] = f"https://www.googleapis.com/compute/v1/projects/proj/zones/z/disks/{args.name}"
        if args.typ == "gcp:secretmanager/secretVersion:SecretVersion":
            outputs["version"] = "1"
        if args.typ == "gcp:apigateway/api:Api":
            outputs["managedService"] = "concierge-1a2b.apigateway.proj.cloud.goog"
        if args.typ == "gcp:apigateway/gateway:Gateway":
            outputs["defaultHostname"] = "gw.example"
        return [f"{args.name}-id", outputs]

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


class DependencyMonitor(MockMonitor):
    """The mock monitor, also keeping each resource's dependencies (explicit depends_on and implicit ones)."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.dependencies: dict[tuple[str, str], set[str]] = {}

    def RegisterResource(self, request):
        self.dependencies[(request.type, request.name)] = set(request.dependencies)
        return super().RegisterResource(request)


@dataclass
class Deployed:
    resources: list
    dependencies: dict[tuple[str, str], set[str]]
    outputs: dict = field(default_factory=dict)

    def of(self, typ: str) -> list:
        return [r for r in self.resources if r.typ == typ]

    def named(self, typ: str, name: str):
        return next(r for r in self.resources if r.typ == typ and r.name == name)


def deploy(secrets: dict | None = None, **rollout) -> Deployed:
    """Run the whole program once under mocks and keep what it declared."""
    from infra.pulumi.program import DeployConfig, Rollout, build

    asyncio.set_event_loop(asyncio.new_event_loop())  # an earlier asyncio.run() leaves none; Pulumi needs one
    mocks = RecordingMocks()
    monitor = DependencyMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="concierge", stack="test", preview=False, monitor=monitor)
    outputs: dict = {}

    @pulumi.runtime.test
    def run():
        out = build(DeployConfig(project="proj", region="europe-west1", project_number="123", image=IMAGE,
                                 qdrant_image="europe-west1-docker.pkg.dev/proj/concierge/qdrant:v1.12.4",
                                 secret_values={**REQUIRED, **(secrets or {})}, rollout=Rollout(**rollout)))
        return pulumi.Output.all(candidates=out["candidates"]).apply(lambda v: outputs.update(v, stable=out["stable"]))

    run()
    return Deployed(mocks.resources, monitor.dependencies, outputs)


@pytest.fixture(scope="module")
def deployed() -> Deployed:
    return deploy()


@pytest.fixture(scope="module")
def declared(deployed):
    return deployed.resources


def _of(resources, typ):
    return [r for r in resources if r.typ == typ]


def _unit(resource) -> str:
    return re.sub(r"^(fn|job)-", "", resource.name).replace("-", "_")


def _units(deployed: Deployed):
    """(unit, task template, its one container) for every function and job."""
    for svc in deployed.of("gcp:cloudrunv2/service:Service"):
        yield _unit(svc), svc.inputs["template"], svc.inputs["template"]["containers"][0]
    for job in deployed.of("gcp:cloudrunv2/job:Job"):
        yield _unit(job), job.inputs["template"]["template"], job.inputs["template"]["template"]["containers"][0]


def _plain(value):
    """A secret input arrives wrapped in Pulumi's secret envelope ({<sig>: <secret sig>, "value": ...})."""
    return value["value"] if isinstance(value, dict) and "value" in value else value


def _env(container) -> dict:
    return {e["name"]: e.get("value", e.get("valueSource")) for e in container["envs"]}


def test_every_function_and_job_folder_is_deployed_and_nothing_else(declared):
    decl = load()
    services = _of(declared, "gcp:cloudrunv2/service:Service")
    function_services = {r.inputs["name"] for r in services if r.name.startswith("fn-")}
    assert function_services == {f"fn-{n.replace('_', '-')}" for n in decl.functions}
    assert len(services) == len(decl.functions), "Qdrant is not a Cloud Run service"
    jobs = _of(declared, "gcp:cloudrunv2/job:Job")
    commands = {tuple(r.inputs["template"]["template"]["containers"][0]["commands"]) for r in jobs}
    assert commands == {("python", "-m", f"jobs.{n}.main") for n in decl.jobs}
    assert {r.inputs["name"] for r in jobs} == {f"job-{n.replace('_', '-')}" for n in decl.jobs}
    # One image for everything we build; the function's target is set by env, not by a per-function image.
    images = {c["image"] for r in services if r.name.startswith("fn-") for c in r.inputs["template"]["containers"]}
    images |= {c["image"] for r in jobs for c in r.inputs["template"]["template"]["containers"]}
    assert images == {IMAGE}


def test_every_push_subscription_and_task_target_uses_oidc(declared):
    subs = _of(declared, "gcp:pubsub/subscription:Subscription")
    push = [s for s in subs if "pushConfig" in s.inputs]
    assert push, "the declaration has push subscriptions"
    for sub in push:
        oidc = sub.inputs["pushConfig"]["oidcToken"]
        assert oidc["serviceAccountEmail"].startswith("push-pubsub@")
        # the audience the handler expects: its own URL, as FUNCTION_URL_<NAME> gives it
        assert oidc["audience"] == sub.inputs["pushConfig"]["pushEndpoint"]
        assert re.fullmatch(r"https://fn-[a-z-]+-123\.europe-west1\.run\.app", oidc["audience"])
    # Cloud Tasks carries OIDC per task (shared/adapters/tasks.py); the invoker accounts are given to every function.
    envs = [_env(c) for r in _of(declared, "gcp:cloudrunv2/service:Service") for c in r.inputs["template"]["containers"]]
    assert all(env["TASKS_SERVICE_ACCOUNT"].startswith("tasks-invoker@") for env in envs)
    assert all(env["PUSH_SERVICE_ACCOUNT"].startswith("push-pubsub@") for env in envs)
    assert all(env["CALLER_AUTH"] == "oidc" for env in envs)
    decl = load()
    invokers = _of(declared, "gcp:cloudrunv2/serviceIamMember:ServiceIamMember")
    for queue in decl.queues:
        assert any(r.name == f"invoke-{queue.target}-by-queue-{queue.name}"
                   and r.inputs["member"] == "serviceAccount:tasks-invoker@proj.iam.gserviceaccount.com"
                   for r in invokers)


def test_no_function_is_publicly_invokable_except_through_the_gateway(declared):
    members = [r for r in declared if "IamMember" in r.typ or "IamBinding" in r.typ or "IamPolicy" in r.typ]
    for r in members:
        member = r.inputs.get("member", "")
        assert member not in ("allUsers", "allAuthenticatedUsers"), r.name
        assert not any(m in ("allUsers", "allAuthenticatedUsers") for m in r.inputs.get("members", []))
    invokers = _of(declared, "gcp:cloudrunv2/serviceIamMember:ServiceIamMember")
    allowed = {"serviceAccount:gw-api@proj.iam.gserviceaccount.com",
               "serviceAccount:push-pubsub@proj.iam.gserviceaccount.com",
               "serviceAccount:tasks-invoker@proj.iam.gserviceaccount.com"}
    assert {r.inputs["member"] for r in invokers} <= allowed
    gateway_invoked = {r.name.removeprefix("invoke-").removesuffix("-by-gateway") for r in invokers
                       if r.name.endswith("-by-gateway")}
    assert gateway_invoked == backends_named() & set(load().functions)


def test_gateway_and_schedules_come_from_the_shared_declarations(declared):
    configs = _of(declared, "gcp:apigateway/apiConfig:ApiConfig")
    assert len(configs) == 1
    schedules = _of(declared, "gcp:cloudscheduler/job:Job")
    assert {r.inputs["schedule"] for r in schedules} == {s.cron for s in load().schedules}
    assert all("oauthToken" in r.inputs["httpTarget"] for r in schedules)
    topics = {r.inputs["name"] for r in _of(declared, "gcp:pubsub/topic:Topic")}
    assert topics == set(load().topics)
    queues = {r.inputs["name"] for r in _of(declared, "gcp:cloudtasks/queue:Queue")}
    assert queues == {q.name for q in load().queues}


def _sa(unit: str) -> str:
    from infra.pulumi.program import _sa_id

    kind = "fn" if unit in load().functions else "job"
    return f"serviceAccount:{_sa_id(kind, unit)}@proj.iam.gserviceaccount.com"


def test_no_project_wide_role_but_vertex_health_probes_and_the_one_sql_instance(declared):
    grants = _of(declared, "gcp:projects/iAMMember:IAMMember")
    unconditional = {(r.inputs["role"], r.inputs["member"]) for r in grants if "condition" not in r.inputs}
    assert unconditional == {("roles/aiplatform.user", _sa("train")), ("roles/pubsub.viewer", _sa("health")),
                             ("roles/cloudtasks.viewer", _sa("health")), ("roles/storage.bucketViewer", _sa("health"))}
    conditional = [r for r in grants if "condition" in r.inputs]
    assert {r.inputs["role"] for r in conditional} == {"roles/cloudsql.client"}
    assert all(r.inputs["condition"]["expression"] ==
               'resource.name == "projects/proj/instances/postgres-123" '
               '&& resource.type == "sqladmin.googleapis.com/Instance"' for r in conditional)
    acting = _of(declared, "gcp:serviceaccount/iAMMember:IAMMember")
    assert {r.inputs["role"] for r in acting} == {"roles/iam.serviceAccountUser"}
    enqueuers = {u for q in load().queues for u in q.enqueued_by}
    assert {r.inputs["member"] for r in acting if r.name.endswith("-acts-as-tasks-invoker")} == {_sa(u) for u in enqueuers}
    assert "trips" in enqueuers and "signals" not in enqueuers


def test_each_queue_topic_and_bucket_is_granted_only_to_its_declared_units(declared):
    decl = load()
    queue_grants = {(r.inputs["name"], r.inputs["member"])
                    for r in _of(declared, "gcp:cloudtasks/queueIamMember:QueueIamMember")}
    assert queue_grants == {(q.name, _sa(u)) for q in decl.queues for u in q.enqueued_by}
    topic_grants = {(r.inputs["topic"], r.inputs["member"])
                    for r in _of(declared, "gcp:pubsub/topicIAMMember:TopicIAMMember")
                    if r.inputs["role"] == "roles/pubsub.publisher" and not r.name.startswith("dlq-")}
    assert topic_grants == {(t.name, _sa(u)) for t in decl.topic_grants for u in t.publishers}
    bucket_roles = {(r.inputs["role"], r.inputs["member"]) for r in _of(declared, "gcp:storage/bucketIAMMember:BucketIAMMember")}
    assert ("roles/storage.objectAdmin", _sa("signals")) not in bucket_roles
    assert ("roles/storage.objectAdmin", _sa("nightly_extract")) in bucket_roles


def _secret_grants(resources) -> dict[str, set[str]]:
    grants: dict[str, set[str]] = {}
    for r in _of(resources, "gcp:secretmanager/secretIamMember:SecretIamMember"):
        secret = r.inputs["secretId"].removesuffix("-id").removeprefix("secret-")
        grants.setdefault(r.inputs["member"], set()).add(secret)
    return grants


def _mounted(container) -> set[str]:
    return {e["name"].lower() for e in container["envs"] if "valueSource" in e}


def test_each_unit_reads_only_its_own_secrets(deployed):
    grants = _secret_grants(deployed.resources)
    assert grants[_sa("health")] == {"database_url", "qdrant_api_key"}
    assert grants[_sa("signal_sink")] == {"database_url", "signal_pseudonym_salt"}
    assert "admin_token" not in grants[_sa("signal_sink")] and "admin_token" in grants[_sa("admin")]
    # what is mounted as env is what may be read, for services and jobs alike
    for unit, _template, container in _units(deployed):
        assert _mounted(container) == grants[_sa(unit)], unit


def test_push_and_task_only_targets_take_internal_traffic_only(declared):
    ingress = {r.name.removeprefix("fn-").replace("-", "_"): r.inputs["ingress"]
               for r in _of(declared, "gcp:cloudrunv2/service:Service") if r.name.startswith("fn-")}
    internal = {"signal_sink", "prewarm", "pivot_outcomes", "interaction_sink", "suggest_event_sink", "search_warmup"}
    for unit in internal:
        assert ingress[unit] == "INGRESS_TRAFFIC_INTERNAL_ONLY"
    assert set(ingress) - internal <= backends_named()


# --- network: Redis and Qdrant over the VPC ------------------------------------------------------------------

def test_the_units_that_reach_redis_or_qdrant_are_found_in_their_code():
    decl = load()
    qdrant = set(units_reaching(decl, "shared.adapters.qdrant"))
    redis = set(units_reaching(decl, "shared.adapters.redis_cache"))
    assert {"trips", "prewarm", "seed_city", "health"} <= qdrant and {"signals", "users", "migrate"}.isdisjoint(qdrant)
    assert {"trips", "prewarm", "signal_sink", "health"} <= redis and {"signals", "migrate"}.isdisjoint(redis)


def test_vpc_egress_on_exactly_the_units_that_need_redis_or_qdrant(deployed):
    decl = load()
    qdrant = set(units_reaching(decl, "shared.adapters.qdrant"))
    redis = set(units_reaching(decl, "shared.adapters.redis_cache"))
    subnet = deployed.named("gcp:compute/subnetwork:Subnetwork", "subnet")
    assert subnet.inputs["privateIpGoogleAccess"] is True
    for unit, template, container in _units(deployed):
        env = _env(container)
        assert ("REDIS_URL" in env) == (unit in redis), unit
        assert ("QDRANT_URL" in env) == (unit in qdrant), unit
        if unit not in redis | qdrant:
            assert "vpcAccess" not in template, unit
            continue
        vpc = template["vpcAccess"]
        assert vpc["egress"] == "PRIVATE_RANGES_ONLY"
        (interface,) = vpc["networkInterfaces"]
        assert interface["network"] == "vpc-id" and interface["subnetwork"] == "subnet-id"
        assert (interface.get("tags") == ["qdrant-client"]) == (unit in qdrant), unit
    cache = deployed.named("gcp:redis/instance:Instance", "cache")
    assert cache.inputs["authorizedNetwork"] == "vpc-id"
    assert _env(next(c for u, _t, c in _units(deployed) if u == "trips"))["REDIS_URL"] == "redis://10.0.0.3:6379/0"


def test_qdrant_has_a_persistent_disk_an_api_key_and_admits_only_its_clients(deployed):
    vm = deployed.named("gcp:compute/instance:Instance", "qdrant")
    disk = deployed.named("gcp:compute/disk:Disk", "qdrant-data")
    disk_link = "https://www.googleapis.com/compute/v1/projects/proj/zones/z/disks/qdrant-data"  # the mock's selfLink
    assert vm.inputs["attachedDisks"] == [{"source": disk_link, "deviceName": "qdrant-data"}]
    assert disk.inputs["type"] == "pd-balanced" and disk.inputs["size"] >= 10
    assert all("accessConfigs" not in nic for nic in vm.inputs["networkInterfaces"]), "no public address"
    script = vm.inputs["metadataStartupScript"]
    assert "/dev/disk/by-id/google-qdrant-data" in script and ':/qdrant/storage"' in script
    assert 'QDRANT__SERVICE__API_KEY="$KEY"' in script and "secrets/qdrant-api-key/versions/latest:access" in script
    assert "europe-west1-docker.pkg.dev/proj/concierge/qdrant:v1.12.4" in script

    (rule,) = deployed.of("gcp:compute/firewall:Firewall")
    assert rule.inputs["sourceTags"] == ["qdrant-client"] and rule.inputs["targetTags"] == vm.inputs["tags"] == ["qdrant"]
    assert rule.inputs["allows"] == [{"protocol": "tcp", "ports": ["6333"]}]
    qdrant = set(units_reaching(load(), "shared.adapters.qdrant"))
    tagged = {u for u, t, _c in _units(deployed)
              if "qdrant-client" in t.get("vpcAccess", {}).get("networkInterfaces", [{}])[0].get("tags", [])}
    assert tagged == qdrant
    key_readers = {m for m, s in _secret_grants(deployed.resources).items() if "qdrant_api_key" in s}
    assert key_readers == {_sa(u) for u in qdrant} | {"serviceAccount:vm-qdrant@proj.iam.gserviceaccount.com"}
    for unit, _t, container in _units(deployed):
        if unit in qdrant:
            assert _env(container)["QDRANT_URL"] == "http://10.8.0.5:6333"


# --- Cloud SQL, secrets, APIs --------------------------------------------------------------------------------

def test_every_unit_with_database_url_has_the_cloud_sql_connector(deployed):
    for unit, template, container in _units(deployed):
        assert "DATABASE_URL" in _env(container), unit
        assert {"name": "cloudsql", "cloudSqlInstance": {"instances": [CONNECTION]}} in template["volumes"], unit
        assert {"name": "cloudsql", "mountPath": "/cloudsql"} in container["volumeMounts"], unit
    granted = {r.inputs["member"] for r in deployed.of("gcp:projects/iAMMember:IAMMember")
               if r.inputs["role"] == "roles/cloudsql.client"}
    assert granted == {_sa(u) for u, _t, _c in _units(deployed)}


def test_database_url_is_a_unix_socket_url_asyncpg_connects_through(deployed):
    from asyncpg import connect_utils

    version = deployed.named("gcp:secretmanager/secretVersion:SecretVersion", "secret-database_url-value")
    url = _plain(version.inputs["secretData"])
    assert url == f"postgresql://concierge:{quote(PASSWORD, safe='')}@/concierge?host=/cloudsql/{CONNECTION}"
    parse = connect_utils._parse_connect_dsn_and_args
    kwargs = {name: None for name in inspect.signature(parse).parameters}
    addrs, params = parse(**{**kwargs, "dsn": url})[:2]
    assert addrs == [f"/cloudsql/{CONNECTION}/.s.PGSQL.5432"]  # the socket Cloud Run's connector creates
    assert (params.user, params.password, params.database) == ("concierge", PASSWORD, "concierge")
    user = deployed.named("gcp:sql/user:User", "db-user")
    assert _plain(user.inputs["password"]) == PASSWORD and user.inputs["name"] == "concierge"


def test_every_secret_has_a_version_or_is_optional_and_unset(deployed):
    decl = load()
    optional = {g.name.lower() for g in decl.secret_grants if g.optional}
    versioned = {r.inputs["secret"].removesuffix("-id").removeprefix("secret-")
                 for r in deployed.of("gcp:secretmanager/secretVersion:SecretVersion")}
    secrets = {r.name.removeprefix("secret-") for r in deployed.of("gcp:secretmanager/secret:Secret")}
    assert secrets == {"database_url", "qdrant_api_key", *(n.lower() for n in decl.secrets)}
    assert secrets - versioned == optional  # the fixture configures no optional secret
    grants = _secret_grants(deployed.resources)
    assert not any(optional & names for names in grants.values()), "an unset secret is neither granted nor mounted"


def test_a_configured_optional_secret_gets_a_version_and_is_mounted_into_its_readers():
    with_key = deploy(secrets={"ANTHROPIC_API_KEY": "sk-test"})
    version = with_key.named("gcp:secretmanager/secretVersion:SecretVersion", "secret-anthropic_api_key-value")
    assert _plain(version.inputs["secretData"]) == "sk-test"
    readers = next(g.readers for g in load().secret_grants if g.name == "ANTHROPIC_API_KEY")
    for unit, _t, container in _units(with_key):
        assert ("anthropic_api_key" in _mounted(container)) == (unit in readers), unit


@pytest.mark.parametrize("missing,key", [("ADMIN_TOKEN", "admin_token"), ("DB_PASSWORD", "db_password"),
                                         ("QDRANT_API_KEY", "qdrant_api_key")])
def test_a_required_secret_without_a_value_stops_the_deploy_naming_its_config_key(missing, key):
    with pytest.raises(Exception, match=key):
        deploy(secrets={missing: None})


def test_required_apis_are_enabled_and_resources_wait_for_them(deployed):
    apis = {r.inputs["service"] for r in deployed.of("gcp:projects/service:Service")}
    for api in ("run", "pubsub", "cloudtasks", "cloudscheduler", "secretmanager", "sqladmin", "redis", "apigateway",
                "servicemanagement", "servicecontrol", "aiplatform", "artifactregistry", "compute", "iamcredentials"):
        assert f"{api}.googleapis.com" in apis
    assert "concierge-1a2b.apigateway.proj.cloud.goog" in apis  # the gateway's own managed service

    def depends(typ: str, name: str, api: str) -> bool:
        wanted = f"gcp:projects/service:Service::api-{api}"
        return any(urn.endswith(wanted) for urn in deployed.dependencies[(typ, name)])

    for svc in deployed.of("gcp:cloudrunv2/service:Service"):
        assert depends(svc.typ, svc.name, "run"), svc.name
    for job in deployed.of("gcp:cloudrunv2/job:Job"):
        assert depends(job.typ, job.name, "run"), job.name
    assert depends("gcp:sql/databaseInstance:DatabaseInstance", "postgres", "sqladmin")
    assert depends("gcp:redis/instance:Instance", "cache", "redis")
    assert depends("gcp:compute/instance:Instance", "qdrant", "compute")
    assert depends("gcp:artifactregistry/repository:Repository", "registry", "artifactregistry")
    for topic in deployed.of("gcp:pubsub/topic:Topic"):
        assert depends(topic.typ, topic.name, "pubsub")


def _cloudbuild() -> dict:
    return yaml.safe_load((REPO_ROOT / "cloudbuild.yaml").read_text())


def test_the_artifact_registry_repository_is_the_one_cloudbuild_pushes_to(deployed):
    build = _cloudbuild()
    repo = deployed.named("gcp:artifactregistry/repository:Repository", "registry")
    assert repo.inputs["repositoryId"] == build["substitutions"]["_REPO"] and repo.inputs["format"] == "DOCKER"
    # the registry step creates exactly these two resources before the first push: their URNs must exist
    registry_step = next(s for s in build["steps"] if s["id"] == "registry")
    targets = re.findall(r'--target "urn:pulumi:\$\{_STACK\}::concierge::([^:]+:[^:]+:[^:]+)::([\w-]+)"',
                         " ".join(registry_step["args"]))
    assert set(targets) == {("gcp:projects/service:Service", "api-artifactregistry"),
                            ("gcp:artifactregistry/repository:Repository", "registry")}
    for typ, name in targets:
        deployed.named(typ, name)
    ids = [s["id"] for s in build["steps"]]
    assert ids.index("registry") < ids.index("push") and ids.index("mirror-qdrant") < ids.index("deploy")


def test_cloudbuild_migrates_and_checks_before_any_traffic_moves():
    from infra.pulumi.program import job_name

    steps = _cloudbuild()["steps"]
    ids = [s["id"] for s in steps]
    text = {s["id"]: " ".join(str(a) for a in s.get("args", [])) for s in steps}

    def stage_of(step_id: str) -> str | None:
        found = re.search(r"pulumi config set rollout (\S+)", text[step_id])
        return found.group(1) if found else None

    stages = [(i, stage_of(i)) for i in ids if stage_of(i)]
    assert [s for _i, s in stages] == ["no-traffic", "10", "100"]
    deploy_at, canary_at, promote_at = (ids.index(i) for i, _s in stages)
    assert all("pulumi up" in text[i] for i, _s in stages)
    migrate_at = next(n for n, i in enumerate(ids) if f"jobs execute {job_name('migrate')}" in text[i])
    assert "--wait" in text[ids[migrate_at]] and "migrate" in load().jobs
    checks = [n for n, i in enumerate(ids) if "print-identity-token" in text[i]]
    assert deploy_at < migrate_at < checks[0] < canary_at < checks[1] < promote_at
    # the canary check rolls back on failure; the first one has nothing to roll back (the candidates have 0%)
    env = {s["id"]: dict(e.split("=", 1) for e in s.get("env", [])) for s in steps}
    assert env[ids[checks[0]]]["ON_FAILURE"] == "stop" and env[ids[checks[1]]]["ON_FAILURE"] == "rollback"
    assert "/v1/health" in text[ids[checks[0]]] and "revisions describe" in text[ids[checks[0]]]


# --- rollout stages ------------------------------------------------------------------------------------------

def _splits(deployed: Deployed) -> dict[str, list[tuple[str, int, str | None]]]:
    return {_unit(s): [(t["revision"], t["percent"], t.get("tag")) for t in s.inputs["traffics"]]
            for s in deployed.of("gcp:cloudrunv2/service:Service")}


@pytest.mark.parametrize("stage,stable_share,candidate_share", [("no-traffic", 100, 0), ("10", 90, 10), ("100", 0, 100)])
def test_a_release_rolls_out_no_traffic_then_10_then_100_percent(stage, stable_share, candidate_share):
    functions = load().functions
    staged = deploy(stage=stage, release="abc1234-5f6e", stable_release="0ff1ce0-1234", stable_functions=tuple(functions))
    for svc in staged.of("gcp:cloudrunv2/service:Service"):
        assert svc.inputs["template"]["revision"] == f"{svc.name}-abc1234-5f6e"
    for unit, split in _splits(staged).items():
        svc = f"fn-{unit.replace('_', '-')}"
        expected = [(f"{svc}-abc1234-5f6e", candidate_share, "candidate")]
        if stable_share:
            expected.insert(0, (f"{svc}-0ff1ce0-1234", stable_share, None))
        assert split == expected, unit
    lines = [line.split() for line in staged.outputs["candidates"].splitlines()]
    assert {fields[0] for fields in lines} == set(functions)
    for fn, svc, revision, url, base, ingress, stable in lines:
        assert revision == f"{svc}-abc1234-5f6e" and url == f"https://candidate---{svc}-abc-ew.a.run.app"
        assert base == f"https://{svc}-123.europe-west1.run.app" and ingress in ("public", "internal")
        assert stable == (f"{svc}-0ff1ce0-1234" if stable_share else "-")
    # what serves 100% afterwards: the candidate only once it has all the traffic
    assert staged.outputs["stable"]["release"] == ("abc1234-5f6e" if stage == "100" else "0ff1ce0-1234")


def test_the_first_deploy_and_a_new_function_give_their_candidate_all_traffic():
    first = deploy(stage="no-traffic", release="abc1234-5f6e")
    assert all(split == [(f"fn-{u.replace('_', '-')}-abc1234-5f6e", 100, "candidate")]
               for u, split in _splits(first).items())
    older = tuple(f for f in load().functions if f != "users")  # `users` is new in this release
    canary = _splits(deploy(stage="10", release="abc1234-5f6e", stable_release="0ff1ce0-1234", stable_functions=older))
    assert canary["users"] == [("fn-users-abc1234-5f6e", 100, "candidate")]
    assert [p for _r, p, _t in canary["trips"]] == [90, 10]


def test_the_release_defaults_to_the_image_tag_and_must_make_valid_revision_names():
    from infra.pulumi.program import DeployConfig, revision_name

    assert DeployConfig(project="p", region="r", project_number="1", image=IMAGE).release == "sha"
    with pytest.raises(ValueError):
        revision_name("pivot_outcomes", "x" * 60)


# --- datasets ------------------------------------------------------------------------------------------------

def test_the_units_that_read_datasets_have_the_datasets_bucket_at_the_dockerfile_data_dir(deployed):
    decl = load()
    (bucket,) = [b for b in decl.bucket_grants if b.mount]
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert f"ENV CONCIERGE_DATA_DIR={bucket.mount}" in dockerfile
    readers = set(units_reaching(decl, "shared.domains.travel.catalogue.cities"))
    readers |= set(units_reaching(decl, "shared.engine.data.loaders"))
    assert readers <= set(bucket.readers)
    for unit, template, container in _units(deployed):
        volume = {"name": bucket.name, "gcs": {"bucket": f"proj-{bucket.name}", "readOnly": True}}
        assert (volume in template["volumes"]) == (unit in bucket.readers), unit
        assert ({"name": bucket.name, "mountPath": bucket.mount} in container["volumeMounts"]) == (unit in bucket.readers)
        assert template["executionEnvironment"] == "EXECUTION_ENVIRONMENT_GEN2"


def test_the_recommendations_figures_reach_cloud_monitoring(declared):
    """Log-based metrics over the function's structured request lines, a dashboard and a latency alert."""
    metrics = {r.inputs["name"]: r.inputs for r in _of(declared, "gcp:logging/metric:Metric")}
    assert {"recs_requests", "recs_request_latency_ms", "recs_cache_lookups"} <= set(metrics)
    assert metrics["recs_request_latency_ms"]["valueExtractor"] == "EXTRACT(jsonPayload.latency_ms)"
    assert "fn-recommendations" in metrics["recs_requests"]["filter"]
    (dashboard,) = _of(declared, "gcp:monitoring/dashboard:Dashboard")
    assert "recs_request_latency_ms" in dashboard.inputs["dashboardJson"]
    (alert,) = [a for a in _of(declared, "gcp:monitoring/alertPolicy:AlertPolicy") if a.name == "recs-latency-alert"]
    assert alert.inputs["conditions"][0]["conditionThreshold"]["thresholdValue"] == 20.0


def test_the_suggest_alert_policies_are_the_rules_the_local_command_evaluates(declared):
    """p99 > 150 ms, error rate > 1%, coverage < 80%: thresholds from shared.api.suggest_metrics.ALERT_RULES."""
    from shared.api.suggest_metrics import ALERT_RULES

    metrics = {r.inputs["name"]: r.inputs for r in _of(declared, "gcp:logging/metric:Metric")}
    assert {"suggest_requests", "suggest_request_latency_ms"} <= set(metrics)
    assert "fn-suggest" in metrics["suggest_requests"]["filter"]
    policies = {a.name: a.inputs for a in _of(declared, "gcp:monitoring/alertPolicy:AlertPolicy")}
    thresholds = {name: p["conditions"][0]["conditionThreshold"] for name, p in policies.items()}
    assert thresholds["suggest-latency-p99-alert"]["thresholdValue"] == 150.0
    assert thresholds["suggest-latency-p99-alert"]["comparison"] == "COMPARISON_GT"
    assert thresholds["suggest-error-rate-alert"]["thresholdValue"] == 0.01
    assert "denominatorFilter" in thresholds["suggest-error-rate-alert"]
    assert thresholds["suggest-coverage-alert"]["thresholdValue"] == 0.8
    assert thresholds["suggest-coverage-alert"]["comparison"] == "COMPARISON_LT"
    assert {f"{r.name}-alert" for r in ALERT_RULES} <= set(policies)
