"""The Kubernetes example validates against the kubernetes Python client's schemas.

Every document is checked field by field against the client's model of its kind (an unknown or
misspelt field fails: the client's own `deserialize` would silently drop it), then
deserialized with `ApiClient().deserialize` so types and required fields are checked too. The
PodMonitor is a prometheus-operator CRD the client has no model for: it is checked against the
field list written down below (from monitoring.coreos.com/v1 PodMonitor), not a schema.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

kubernetes = pytest.importorskip("kubernetes")
from kubernetes import client  # noqa: E402

HERE = Path(__file__).resolve().parents[2] / "packaging" / "kubernetes"
MODELS = {
    ("v1", "Namespace"): "V1Namespace",
    ("v1", "Secret"): "V1Secret",
    ("v1", "Service"): "V1Service",
    ("apps/v1", "StatefulSet"): "V1StatefulSet",
}
# monitoring.coreos.com/v1 PodMonitor, the fields this example may use (prometheus-operator
# Documentation/api-reference/api.md: PodMonitorSpec, PodMetricsEndpoint, NamespaceSelector).
PODMONITOR_SPEC = {
    "selector": {"matchLabels": dict, "matchExpressions": list},
    "namespaceSelector": {"any": bool, "matchNames": list},
    "podMetricsEndpoints": [
        {
            "port": str, "portNumber": int, "path": str, "scheme": str, "interval": str,
            "scrapeTimeout": str, "honorLabels": bool, "honorTimestamps": bool, "params": dict,
            "relabelings": list, "metricRelabelings": list, "enableHttp2": bool,
            "followRedirects": bool, "filterRunning": bool, "tlsConfig": dict,
            "basicAuth": dict, "authorization": dict, "proxyUrl": str,
        }
    ],
    "jobLabel": str, "podTargetLabels": list, "sampleLimit": int, "targetLimit": int,
    "attachMetadata": dict, "scrapeProtocols": list, "scrapeClass": str,
}  # fmt: skip
DURATION = re.compile(r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?"
                      r"(([0-9]+)s)?(([0-9]+)ms)?)$")  # fmt: skip


def documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(HERE.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path.name, doc))
    return docs


def unknown_fields(data: Any, type_name: str, where: str) -> list[str]:
    """Paths of fields in `data` that the client's model `type_name` does not know."""
    # The client spells containers `list[X]`/`dict(str, X)` (older) or `List[X]`/`Dict[str, X]`.
    if m := re.fullmatch(r"[lL]ist\[(.+)\]", type_name):
        inner = m[1]
        return [p for i, v in enumerate(data) for p in unknown_fields(v, inner, f"{where}[{i}]")]
    if m := re.fullmatch(r"(?:dict\(|Dict\[)str, (.+)[\)\]]", type_name):
        inner = m[1]
        return [p for k, v in data.items() for p in unknown_fields(v, inner, f"{where}.{k}")]
    model = getattr(client, type_name, None)
    if model is None:  # str, int, bool, object, datetime
        return []
    by_json = {j: a for a, j in model.attribute_map.items()}
    bad = []
    for key, value in data.items():
        if key not in by_json:
            bad.append(f"{where}.{key}")
            continue
        bad += unknown_fields(value, model.openapi_types[by_json[key]], f"{where}.{key}")
    return bad


@pytest.mark.parametrize(
    ("name", "doc"), documents(), ids=lambda v: v if isinstance(v, str) else v.get("kind")
)
def test_manifest_matches_the_clients_schema(name: str, doc: dict[str, Any]) -> None:
    key = (doc["apiVersion"], doc["kind"])
    if key == ("monitoring.coreos.com/v1", "PodMonitor"):
        check_podmonitor(doc)
        return
    assert key in MODELS, f"{name}: no schema for {key}"
    assert unknown_fields(doc, MODELS[key], doc["kind"]) == []
    obj = client.ApiClient().deserialize(json.dumps(doc), MODELS[key], "application/json")
    assert obj.metadata.name


def check_podmonitor(doc: dict[str, Any]) -> None:
    assert set(doc) <= {"apiVersion", "kind", "metadata", "spec"}
    assert unknown_fields(doc["metadata"], "V1ObjectMeta", "metadata") == []
    spec = doc["spec"]
    assert set(spec) <= set(PODMONITOR_SPEC), set(spec) - set(PODMONITOR_SPEC)
    assert set(spec["selector"]) <= set(PODMONITOR_SPEC["selector"])
    assert set(spec["namespaceSelector"]) <= set(PODMONITOR_SPEC["namespaceSelector"])
    allowed = PODMONITOR_SPEC["podMetricsEndpoints"][0]
    for ep in spec["podMetricsEndpoints"]:
        assert set(ep) <= set(allowed), set(ep) - set(allowed)
        for field, kind in allowed.items():
            if field in ep:
                assert isinstance(ep[field], kind), field
        for field in ("interval", "scrapeTimeout"):
            assert field not in ep or DURATION.match(ep[field]), ep[field]


def by_kind(kind: str) -> dict[str, Any]:
    return next(doc for _, doc in documents() if doc["kind"] == kind)


def test_unknown_fields_are_caught() -> None:
    sts = json.loads(json.dumps(by_kind("StatefulSet")))
    sts["spec"]["template"]["spec"]["containers"][0]["securityContxt"] = {}
    sts["spec"]["replica"] = 2
    assert sorted(unknown_fields(sts, "V1StatefulSet", "StatefulSet")) == [
        "StatefulSet.spec.replica",
        "StatefulSet.spec.template.spec.containers[0].securityContxt",
    ]


def test_statefulset_runs_one_headless_agent_per_node_with_its_own_state() -> None:
    sts = by_kind("StatefulSet")
    pod = sts["spec"]["template"]["spec"]
    labels = sts["spec"]["template"]["metadata"]["labels"]
    assert sts["spec"]["selector"]["matchLabels"].items() <= labels.items()
    anti = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert anti[0]["topologyKey"] == "kubernetes.io/hostname"
    assert anti[0]["labelSelector"]["matchLabels"].items() <= labels.items()
    (agent,) = pod["containers"]
    assert agent["args"] == ["agent", "--join-from-env"]
    env = {e["name"]: e for e in agent["env"]}
    # secrets come from files of the mounted Secret, never as plain values
    assert "KALAVAI_LIKE_TOKEN" not in env and "KALAVAI_LIKE_ACCOUNT_KEY" not in env
    mounts = {m["name"]: m["mountPath"] for m in agent["volumeMounts"]}
    secret_dir = mounts["join"]
    assert env["KALAVAI_LIKE_TOKEN_FILE"]["value"] == f"{secret_dir}/token"
    assert env["KALAVAI_LIKE_ACCOUNT_KEY_FILE"]["value"] == f"{secret_dir}/account-key"
    secret = by_kind("Secret")
    join = next(v for v in pod["volumes"] if v["name"] == "join")
    assert join["secret"]["secretName"] == secret["metadata"]["name"]
    assert {"token", "account-key"} <= set(secret["stringData"])
    assert [t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]] == ["state"]
    assert mounts["state"] == "/var/lib/kalavai-like"  # KALAVAI_LIKE_HOME of the agent image
    port = next(p for p in agent["ports"] if p["name"] == "metrics")
    assert env["KALAVAI_LIKE_METRICS_LISTEN"]["value"].endswith(f":{port['containerPort']}")
    assert agent["securityContext"]["privileged"] is True
    assert pod["hostNetwork"] is False
    monitor = by_kind("PodMonitor")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    assert sts["spec"]["serviceName"] == by_kind("Service")["metadata"]["name"]
