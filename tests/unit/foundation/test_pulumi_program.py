"""The Pulumi program under pulumi.runtime mocks (no Pulumi CLI, no cloud): what it declares and how
the pieces are allowed to call each other."""
from __future__ import annotations

import pulumi
import pytest

from infra.pulumi.declaration import load
from infra.pulumi.openapi import backends_named


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append(args)
        outputs = dict(args.inputs)
        if args.typ == "gcp:serviceaccount/account:Account":
            outputs["email"] = f"{args.inputs['accountId']}@proj.iam.gserviceaccount.com"
        if args.typ == "gcp:cloudrunv2/service:Service":
            outputs["uri"] = f"https://{args.name}-123.europe-west1.run.app"
            outputs.setdefault("name", args.name)
        if args.typ == "gcp:cloudrunv2/job:Job":
            outputs.setdefault("name", args.name)
        if args.typ == "gcp:redis/instance:Instance":
            outputs["host"] = "10.0.0.3"
        if args.typ == "gcp:apigateway/gateway:Gateway":
            outputs["defaultHostname"] = "gw.example"
        return [f"{args.name}-id", outputs]

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


@pytest.fixture(scope="module")
def declared():
    import asyncio

    asyncio.set_event_loop(asyncio.new_event_loop())  # an earlier asyncio.run() leaves none; Pulumi needs one
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="concierge", stack="test", preview=False)
    from infra.pulumi.program import DeployConfig, build

    @pulumi.runtime.test
    def run():
        build(DeployConfig(project="proj", region="europe-west1", project_number="123",
                           image="europe-docker.pkg.dev/proj/concierge/app:sha"))

    run()
    return mocks.resources


def _of(resources, typ):
    return [r for r in resources if r.typ == typ]


def test_every_function_and_job_folder_is_deployed_and_nothing_else(declared):
    decl = load()
    services = _of(declared, "gcp:cloudrunv2/service:Service")
    function_services = {r.inputs["name"] for r in services if r.name.startswith("fn-")}
    assert function_services == {f"fn-{n.replace('_', '-')}" for n in decl.functions}
    jobs = _of(declared, "gcp:cloudrunv2/job:Job")
    commands = {tuple(r.inputs["template"]["template"]["containers"][0]["commands"]) for r in jobs}
    assert commands == {("python", "-m", f"jobs.{n}.main") for n in decl.jobs}
    # One image for everything we build; the function's target is set by env, not by a per-function image.
    images = {c["image"] for r in services if r.name.startswith("fn-") for c in r.inputs["template"]["containers"]}
    images |= {c["image"] for r in jobs for c in r.inputs["template"]["template"]["containers"]}
    assert images == {"europe-docker.pkg.dev/proj/concierge/app:sha"}


def test_every_push_subscription_and_task_target_uses_oidc(declared):
    subs = _of(declared, "gcp:pubsub/subscription:Subscription")
    push = [s for s in subs if "pushConfig" in s.inputs]
    assert push, "the declaration has push subscriptions"
    for sub in push:
        assert sub.inputs["pushConfig"]["oidcToken"]["serviceAccountEmail"].startswith("push-pubsub@")
    # Cloud Tasks carries OIDC per task (shared/adapters/tasks.py); the invoker account is given to every function.
    envs = [c["envs"] for r in _of(declared, "gcp:cloudrunv2/service:Service") if r.name.startswith("fn-")
            for c in r.inputs["template"]["containers"]]
    assert all(any(e["name"] == "TASKS_SERVICE_ACCOUNT" and e["value"].startswith("tasks-invoker@") for e in env)
               for env in envs)
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


def test_no_project_wide_role_but_vertex_and_acting_as_only_the_tasks_invoker(declared):
    project_roles = {(r.inputs["role"], r.inputs["member"]) for r in _of(declared, "gcp:projects/iAMMember:IAMMember")}
    assert project_roles == {("roles/aiplatform.user", _sa("train"))}
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


def test_each_unit_reads_only_its_own_secrets(declared):
    grants: dict[str, set[str]] = {}
    for r in _of(declared, "gcp:secretmanager/secretIamMember:SecretIamMember"):
        grants.setdefault(r.inputs["member"], set()).add(r.inputs["secretId"].removesuffix("-id").removeprefix("secret-"))
    assert grants[_sa("health")] == {"database_url"}
    assert grants[_sa("signal_sink")] == {"database_url", "signal_pseudonym_salt"}
    assert "admin_token" not in grants[_sa("signal_sink")] and "admin_token" in grants[_sa("admin")]
    # what is mounted as env is what may be read
    for svc in _of(declared, "gcp:cloudrunv2/service:Service"):
        if not svc.name.startswith("fn-"):
            continue
        unit = svc.name.removeprefix("fn-").replace("-", "_")
        mounted = {e["name"].lower() for c in svc.inputs["template"]["containers"] for e in c["envs"] if "valueSource" in e}
        assert mounted == grants[_sa(unit)], unit


def test_push_and_task_only_targets_take_internal_traffic_only(declared):
    ingress = {r.name.removeprefix("fn-").replace("-", "_"): r.inputs["ingress"]
               for r in _of(declared, "gcp:cloudrunv2/service:Service") if r.name.startswith("fn-")}
    for unit in ("signal_sink", "prewarm", "pivot_outcomes"):
        assert ingress[unit] == "INGRESS_TRAFFIC_INTERNAL_ONLY"
    assert set(ingress) - {"signal_sink", "prewarm", "pivot_outcomes"} <= backends_named()
