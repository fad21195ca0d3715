"""The Helm chart, offline: lint, schema-valid manifests, least-privilege RBAC, hardening,
alert rules checked by promtool, and a dashboard that only uses metrics the operator exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from prometheus_client import REGISTRY

from modelrollout.engine.queue import Limits
from modelrollout.handlers import telemetry
from modelrollout.handlers.main import parse_args
from testenv import settings
from testenv.helm import helm

CHART = settings.REPO_ROOT / "charts" / "modelrollout"
HERE = Path(__file__).parent
EVERYTHING_ON = [
    "--set=serviceMonitor.enabled=true",
    "--set=prometheusRule.enabled=true",
    "--set=grafanaDashboard.enabled=true",
    "--set=prometheusCredentialsSecrets={prometheus-credentials}",
    "--set=prometheusCAConfigMaps={prometheus-ca}",
    "--set=prometheusAllow={10.96.0.0/12,prometheus.monitoring.svc}",
    "--set=networkPolicy.enabled=true",
    "--set=admissionPolicy.enabled=true",
    "--set=notifications.secretName=modelrollout-notifications",
    '--set-json=networkPolicy.apiServer=[{"cidr":"10.0.0.1/32","port":6443}]',
    '--set-json=networkPolicy.prometheus=[{"cidr":"10.96.0.0/12","port":9090}]',
    '--set-json=rolloutLimits={"overall":10,"perNamespace":2,"perLabel":{"modelrollout.io/pool":1}}',
    "--set=routeLabelSelector=modelrollout.io/routed",
    '--set-json=requestLimits={"kubeApiQPS":12.5,"kubeApiBurst":100,"prometheusQPS":20,"prometheusBurst":7}',
]
NAMESPACED = ["--set=watchNamespaces={team-a,team-b}"]
# Kinds of the Prometheus Operator: no schema in kubernetes-validate; checked below instead.
PROMETHEUS_OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}


def render(*values: str) -> list[dict[str, Any]]:
    out = helm("template", "mr", str(CHART), "--namespace=modelrollout-system", *values)
    return [d for d in yaml.safe_load_all(out) if d]


def kinds(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The documents of `kind`; the ClusterRoles aggregated into admin/edit/view (grants
    to people, not to the operator) only through aggregated()."""
    return [d for d in docs if d["kind"] == kind and d not in aggregated(docs)]


def aggregated(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        d
        for d in docs
        if d["kind"] == "ClusterRole"
        and any(
            k.startswith("rbac.authorization.k8s.io/aggregate-to-") for k in d["metadata"]["labels"]
        )
    ]


def pod_specs(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job"):
            yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]


@pytest.mark.parametrize("values", [[], EVERYTHING_ON, EVERYTHING_ON + NAMESPACED])
def test_helm_lint_strict(values: list[str]) -> None:
    helm("lint", "--strict", str(CHART), *values)


@pytest.mark.parametrize("values", [[], EVERYTHING_ON, EVERYTHING_ON + NAMESPACED])
def test_every_manifest_is_valid_for_the_kubernetes_version_we_test_on(
    values: list[str],
) -> None:
    docs = render(*values)
    version = settings.KUBERNETES_VERSION.lstrip("v")
    for doc in docs:
        if doc["kind"] not in PROMETHEUS_OPERATOR_KINDS:
            kubernetes_validate.validate(doc, version, strict=True)  # raises on any problem


@pytest.mark.parametrize(
    ("values", "says"),
    [
        (["--set=replicas=-1"], "replicas"),
        (["--set=watchNamespaces={Not_A_Namespace}"], "watchNamespaces.0"),
        (["--set=resyncSeconds=0"], "resyncSeconds"),
        (["--set=workers=0"], "workers"),
        (["--set=prometheusRule.stuckFor=an hour"], "stuckFor"),
        (["--set=unknownValue=1"], "unknownValue"),
        (["--set=rolloutLimits.overall=-1"], "overall"),
        (['--set-json=rolloutLimits.perLabel={"pool":0}'], "pool"),
        (["--set=requestLimits.kubeApiBurst=0"], "kubeApiBurst"),
        (["--set=requestLimits.prometheusQPS=-1"], "prometheusQPS"),
    ],
)
def test_values_schema_rejects_bad_values(values: list[str], says: str) -> None:
    with pytest.raises(RuntimeError, match=re.escape(says)):
        render(*values)


def test_chart_crds_are_the_generated_ones() -> None:
    """`make crds` copies crds/ into the chart; this fails when someone forgot to."""
    top = sorted((settings.REPO_ROOT / "crds").glob("*.yaml"))
    chart = sorted((CHART / "crds").glob("*.yaml"))
    assert [p.name for p in chart] == [p.name for p in top]
    for a, b in zip(top, chart, strict=True):
        assert a.read_bytes() == b.read_bytes(), f"{b} is stale: run `make crds`"


def rbac_grants(
    docs: list[dict[str, Any]], kind: str
) -> set[tuple[str, str, str, tuple[str, ...]]]:
    return {
        (group, resource, verb, tuple(rule.get("resourceNames", ())))
        for role in kinds(docs, kind)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def reviewed(
    with_secrets: bool, scope: str = "watched"
) -> set[tuple[str, str, str, tuple[str, ...]]]:
    """The reviewed grants where ModelDeployments are watched, or in the release's own
    namespace (scope="release-namespace")."""
    entries = yaml.safe_load((HERE / "rbac-reviewed.yaml").read_text())
    return {
        (e["apiGroup"], e["resource"], verb, tuple(e.get("resourceNames", ())))
        for e in entries
        if (with_secrets or e["resource"] not in ("secrets", "configmaps"))
        and e.get("scope", "watched") == scope
        for verb in e["verbs"]
    }


def leader_election_roles(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in kinds(docs, "Role") if r["metadata"]["name"].endswith("-leader-election")]


def test_leader_election_may_touch_leases_in_the_release_namespace_only() -> None:
    for values, secrets in (([], False), (NAMESPACED, False), (EVERYTHING_ON, True)):
        docs = render(*values)
        (role,) = leader_election_roles(docs)
        assert role["metadata"]["namespace"] == "modelrollout-system"
        assert rbac_grants([role], "Role") == reviewed(secrets, scope="release-namespace")
        others = rbac_grants(kinds(docs, "ClusterRole"), "ClusterRole") | rbac_grants(
            [r for r in kinds(docs, "Role") if r is not role], "Role"
        )
        assert not any(resource == "leases" for _, resource, _, _ in others)
        (operator,) = kinds(docs, "Deployment")
        args = parse_args(operator["spec"]["template"]["spec"]["containers"][0]["args"])
        assert args.leader_election_namespace == "modelrollout-system"


def test_two_replicas_spread_over_nodes_with_a_disruption_budget() -> None:
    docs = render()
    (operator,) = kinds(docs, "Deployment")
    assert operator["spec"]["replicas"] == 2
    assert operator["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    anti = operator["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    (term,) = anti["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert (
        term["podAffinityTerm"]["labelSelector"]["matchLabels"]
        == (operator["spec"]["selector"]["matchLabels"])
    )
    (budget,) = kinds(docs, "PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"] == operator["spec"]["selector"]
    assert not kinds(render("--set=replicas=1"), "PodDisruptionBudget")


@pytest.mark.parametrize("with_secrets", [False, True])
def test_cluster_wide_rbac_is_exactly_the_reviewed_list(with_secrets: bool) -> None:
    values = EVERYTHING_ON if with_secrets else []
    docs = render(*values)
    assert rbac_grants(docs, "ClusterRole") == reviewed(with_secrets)
    assert kinds(docs, "Role") == leader_election_roles(docs)
    (binding,) = kinds(docs, "ClusterRoleBinding")
    (account,) = kinds(docs, "ServiceAccount")
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": account["metadata"]["name"],
            "namespace": "modelrollout-system",
        }
    ]


def test_watch_namespaces_use_roles_and_nothing_cluster_wide() -> None:
    docs = render(*EVERYTHING_ON, *NAMESPACED)
    assert not kinds(docs, "ClusterRole")
    assert not kinds(docs, "ClusterRoleBinding")
    roles = [r for r in kinds(docs, "Role") if r not in leader_election_roles(docs)]
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    for role in roles:
        assert rbac_grants([role], "Role") == reviewed(with_secrets=True)
    bindings = kinds(docs, "RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == [
        "modelrollout-system",  # the Lease
        "team-a",
        "team-b",
    ]
    (operator,) = kinds(docs, "Deployment")
    args = operator["spec"]["template"]["spec"]["containers"][0]["args"]
    assert parse_args(args).namespace == ["team-a", "team-b"]


def test_no_wildcards_and_secrets_only_by_name() -> None:
    for docs in (render(*EVERYTHING_ON), render(*EVERYTHING_ON, *NAMESPACED)):
        for group, resource, verb, names in rbac_grants(docs, "ClusterRole") | rbac_grants(
            docs, "Role"
        ):
            assert "*" not in (group, resource, verb)
            if resource == "secrets":
                assert names in (("prometheus-credentials",), ("modelrollout-notifications",))
                assert verb == "get"
            if resource == "configmaps":
                assert names == ("prometheus-ca",)
                assert verb == "get"


def test_rollout_limits_request_limits_and_notifications_come_from_values() -> None:
    (operator,) = kinds(render(*EVERYTHING_ON), "Deployment")
    args = parse_args(operator["spec"]["template"]["spec"]["containers"][0]["args"])
    assert args.limits == Limits(10, 2, {"modelrollout.io/pool": 1})
    assert args.notifications_secret == "modelrollout-notifications"
    assert args.notifications_namespace == "modelrollout-system"
    assert (args.kube_api_qps, args.kube_api_burst) == (12.5, 100)
    assert args.route_label_selector == "modelrollout.io/routed"
    assert (args.prometheus_qps, args.prometheus_burst) == (20, 7)
    (default,) = kinds(render(), "Deployment")
    defaults = parse_args(default["spec"]["template"]["spec"]["containers"][0]["args"])
    assert not defaults.limits.any()
    assert defaults.route_label_selector is None
    assert (defaults.request_limits.kube_api.rate, defaults.request_limits.kube_api.burst) == (
        50,
        100,
    )


def test_the_allow_list_and_the_egress_policy_come_from_values() -> None:
    docs = render(*EVERYTHING_ON)
    (operator,) = kinds(docs, "Deployment")
    args = parse_args(operator["spec"]["template"]["spec"]["containers"][0]["args"])
    assert args.endpoints.names == frozenset({"prometheus.monitoring.svc"})
    assert [str(n) for n in args.endpoints.networks] == ["10.96.0.0/12"]
    (policy,) = kinds(docs, "NetworkPolicy")
    assert policy["spec"]["podSelector"] == operator["spec"]["selector"]
    peers = [(r["to"], r["ports"]) for r in policy["spec"]["egress"]]
    assert ([{"ipBlock": {"cidr": "10.0.0.1/32"}}], [{"port": 6443, "protocol": "TCP"}]) in peers
    assert ([{"ipBlock": {"cidr": "10.96.0.0/12"}}], [{"port": 9090, "protocol": "TCP"}]) in peers
    assert len(peers) == 3  # and DNS: nothing else
    assert not kinds(render(), "NetworkPolicy")


def test_pods_are_hardened_and_bounded() -> None:
    docs = render(*EVERYTHING_ON)
    found = dict(pod_specs(docs))
    assert set(found) == {"mr-modelrollout", "mr-modelrollout-test"}
    for name, spec in found.items():
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert pod["runAsUser"] != 0, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in spec["containers"]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert "add" not in sc["capabilities"], name
            assert container["resources"]["requests"]
            assert container["resources"]["limits"]
    operator = found["mr-modelrollout"]["containers"][0]
    assert operator["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert operator["readinessProbe"]["httpGet"]["path"] == "/healthz"
    args = parse_args(operator["args"])  # the operator accepts what the chart passes
    assert args.namespace == []
    assert args.metrics_port == 9090
    assert args.liveness == "http://0.0.0.0:8080/healthz"


def test_helm_test_hook_is_a_job_without_credentials() -> None:
    (job,) = kinds(render(), "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert job["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    assert not kinds(render("--set=tests.enabled=false"), "Job")


def promtool() -> str:
    found = shutil.which("promtool") or "/usr/bin/promtool"
    if not Path(found).exists():
        pytest.fail("promtool is missing: `apt-get install prometheus` (or `make deps`)")
    return found


def test_alert_rules_pass_promtool_and_fire_when_they_should(tmp_path: Path) -> None:
    (rule,) = kinds(render(*EVERYTHING_ON), "PrometheusRule")
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    subprocess.run([promtool(), "check", "rules", str(rules)], check=True, capture_output=True)
    tests = tmp_path / "tests.yaml"
    tests.write_text((HERE / "alerts-test.yaml").read_text())
    done = subprocess.run(
        [promtool(), "test", "rules", str(tests)], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def exported_metric_names() -> set[str]:
    telemetry.PHASE.labels("ns", "n", "Healthy").set(1)  # make labelled families show samples
    telemetry.WEIGHT.labels("ns", "n").set(0)
    telemetry.JUDGE_EVIDENCE.labels("ns", "n", "errors").set(1)
    telemetry.MEASUREMENTS.labels("ns", "n", "m", "Successful").inc(0)
    telemetry.FINISHED.labels("ns", "n", "Promoted").inc(0)
    telemetry.DURATION.labels("Promoted").observe(0)
    return {s.name for family in REGISTRY.collect() for s in family.samples}


def test_dashboard_and_alerts_only_use_metrics_the_operator_exports(tmp_path: Path) -> None:
    docs = render(*EVERYTHING_ON)
    (dashboard,) = kinds(docs, "ConfigMap")
    panels = json.loads(dashboard["data"]["modelrollout.json"])["panels"]
    panel_exprs = [t["expr"] for p in panels for t in p["targets"]]
    (rule,) = kinds(docs, "PrometheusRule")
    alert_exprs = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]
    used = {m for e in panel_exprs + alert_exprs for m in re.findall(r"modelrollout_[a-z_]+", e)}
    assert used
    assert used <= exported_metric_names(), used - exported_metric_names()
    # The panels' PromQL parses: promtool checks it as recording rules.
    recording = [
        {"record": f"dashboard:panel_{i}", "expr": e.replace("$namespace", ".*")}
        for i, e in enumerate(panel_exprs)
    ]
    path = tmp_path / "dashboard-rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recording}]}))
    subprocess.run([promtool(), "check", "rules", str(path)], check=True, capture_output=True)


def test_people_get_modeldeployments_through_the_built_in_roles() -> None:
    for docs in (render(), render(*EVERYTHING_ON, *NAMESPACED)):
        roles = {r["metadata"]["name"]: r for r in aggregated(docs)}
        edit, view = roles["mr-modelrollout-edit"], roles["mr-modelrollout-view"]
        assert {k for k, v in edit["metadata"]["labels"].items() if v == "true"} >= {
            "rbac.authorization.k8s.io/aggregate-to-admin",
            "rbac.authorization.k8s.io/aggregate-to-edit",
        }
        assert "rbac.authorization.k8s.io/aggregate-to-view" in view["metadata"]["labels"]
        assert {verb for rule in view["rules"] for verb in rule["verbs"]} == {
            "get",
            "list",
            "watch",
        }
        assert "create" in edit["rules"][0]["verbs"]
    assert not aggregated(render("--set=aggregateRoles=false"))


def test_the_admission_policy_asks_the_authorizer_about_deployments() -> None:
    docs = render(*EVERYTHING_ON)
    (policy,) = [d for d in docs if d["kind"] == "ValidatingAdmissionPolicy"]
    (binding,) = [d for d in docs if d["kind"] == "ValidatingAdmissionPolicyBinding"]
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert "resource('deployments')" in policy["spec"]["validations"][0]["expression"]
    assert not [d for d in render() if d["kind"] == "ValidatingAdmissionPolicy"]
