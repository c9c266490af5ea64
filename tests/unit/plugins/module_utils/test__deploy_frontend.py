# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the frontend component: its objects (no credential, no
volume, hardened, the proxy pointed at the Jupyter Server found through its
Service), validation, and a converge, a second converge and a teardown
through the engine against the in-memory API of the engine's tests."""

from __future__ import annotations

import pytest

from ansible_collections.remotedev.jupyter.plugins.module_utils import _deploy_common as dc
from ansible_collections.remotedev.jupyter.plugins.module_utils._deploy_engine import (
    Engine,
    EngineError,
    InvalidSettings,
    component_for,
)
from ansible_collections.remotedev.jupyter.plugins.module_utils._deploy_frontend import split_server_url
from ansible_collections.remotedev.jupyter.tests.unit.plugins.module_utils.role_settings import settings_for
from ansible_collections.remotedev.jupyter.tests.unit.plugins.module_utils.test__deploy_engine import (
    NS,
    FakeClient,
    FakeClock,
    namespace,
)

SERVER_URL = "http://jupyter-demo.remotedev-jupyter.svc.cluster.local:8888/"


def frontend(**overrides):
    overrides.setdefault("jupyter_url", SERVER_URL)
    return component_for("frontend", settings_for("frontend", **overrides))


def by_kind(objects):
    found = {}
    for obj in objects:
        assert obj["kind"] not in found
        found[obj["kind"]] = obj
    return found


def objects(**overrides):
    return by_kind(frontend(**overrides).objects({}))


def env_of(container):
    return {e["name"]: e["value"] for e in container["env"]}


def test_defaults_validate_and_name():
    component = frontend()
    component.validate()
    assert (component.name, component.jupyter_name) == ("frontend-demo", "jupyter-demo")


def test_objects_hold_no_credential_and_no_volume():
    found = objects()
    assert list(found) == ["NetworkPolicy", "Service", "Deployment"]
    pod = found["Deployment"]["spec"]["template"]["spec"]
    assert "volumes" not in pod or pod["volumes"] == []
    container = pod["containers"][0]
    assert container["volumeMounts"] == []
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 1000
    hardened = container["securityContext"]
    assert hardened["readOnlyRootFilesystem"] is True and hardened["allowPrivilegeEscalation"] is False
    assert hardened["capabilities"] == {"drop": ["ALL"]}
    assert not [e for e in container["env"] if "valueFrom" in e]


@pytest.mark.parametrize("url, upstream, base", [
    (SERVER_URL, "http://jupyter-demo.remotedev-jupyter.svc.cluster.local:8888", "/"),
    ("http://jupyter-demo.team.svc.cluster.local:8888/jupyter/", "http://jupyter-demo.team.svc.cluster.local:8888",
     "/jupyter/"),
])
def test_proxy_points_at_the_server_and_probes_under_its_base_url(url, upstream, base):
    assert split_server_url(url) == (upstream, base)
    container = objects(jupyter_url=url)["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    env = env_of(container)
    assert (env["FRONTEND_UPSTREAM"], env["FRONTEND_BASE_URL"], env["FRONTEND_PORT"]) == (upstream, base, "8080")
    assert container["readinessProbe"]["httpGet"]["path"] == base + "frontend/healthz"


def test_pods_are_clients_of_the_server_and_may_be_many():
    deployment = objects(replicas=3)["Deployment"]
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels[dc.CLIENT_LABEL] == "jupyter-demo"


def test_network_policy_lets_out_only_dns_and_the_server():
    policy = objects()["NetworkPolicy"]["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    egress = policy["egress"]
    assert len(egress) == 2
    assert egress[0]["ports"] == dc.DNS_PORTS
    assert egress[1]["to"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": dc.JUPYTER_APP}}}]
    with_internet = objects(network_policy_egress_internet=True)["NetworkPolicy"]["spec"]["egress"]
    assert len(with_internet) == 3


def test_ingress_when_enabled():
    ingress = objects(ingress_enabled=True, ingress_hosts=["nb.example.test"], ingress_class_name="nginx")["Ingress"]
    assert ingress["spec"]["rules"][0]["host"] == "nb.example.test"
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"


@pytest.mark.parametrize("overrides, message", [
    ({"jupyter_url": "jupyter:8888"}, "frontend_jupyter_url must be an http(s) URL ending in '/'"),
    ({"jupyter_url": "http://j:8888/?token=x/"}, "frontend_jupyter_url must be an http(s) URL"),
    ({"replicas": 21}, "frontend_replicas=21 is out of range: it must be 0-20"),
    ({"env": [{"name": "FRONTEND_UPSTREAM", "value": "http://elsewhere"}]}, "frontend_env"),
    ({"jupyter_name": "Bad_Name"}, "frontend_jupyter_name"),
    ({"render_only": True, "render_dest": "/tmp/x.yaml", "jupyter_url": ""}, "set frontend_jupyter_url"),
    ({"uid": 0}, "frontend_uid=0 is out of range"),
], ids=["not-a-url", "query", "replicas", "reserved-env", "server-name", "render-without-url", "root"])
def test_bad_settings_are_named(overrides, message):
    with pytest.raises(InvalidSettings, match=".*") as info:
        frontend(**overrides).validate()
    assert message in str(info.value)


def engine(client, check_mode=False, **overrides):
    clock = FakeClock()
    settings = settings_for("frontend", **overrides)
    return Engine(component_for("frontend", settings), check_mode=check_mode, client=client, clock=clock,
                  sleep=clock.sleep, poll_interval=1)


def server_service(url=SERVER_URL):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {
        "name": "jupyter-demo", "namespace": NS, "annotations": dc.server_service_annotations(url, "jupyter-demo", "token")}}


def test_converge_finds_the_server_then_changes_nothing_then_removes():
    client = FakeClient()
    client.add(namespace())
    client.add(server_service("http://jupyter-demo.remotedev-jupyter.svc.cluster.local:8888/lab-base/"))
    first = engine(client, wait=False).run()
    assert first["changed"] is True
    assert sorted(first["changes"]) == ["created Deployment/frontend-demo", "created NetworkPolicy/frontend-demo",
                                        "created Service/frontend-demo"]
    env = env_of(client.stored("Deployment", "frontend-demo")["spec"]["template"]["spec"]["containers"][0])
    assert env["FRONTEND_BASE_URL"] == "/lab-base/"
    assert first["connection"]["page_path"] == "/lab-base/frontend/"
    assert not client.stored("Secret", "frontend-demo")
    second = engine(client, wait=False).run()
    assert second["changed"] is False, second["changes"]
    removed = engine(client, state="absent").run()
    assert sorted(removed["changes"]) == ["deleted Deployment/frontend-demo", "deleted NetworkPolicy/frontend-demo",
                                          "deleted Service/frontend-demo"]
    assert removed["summary"] == ["Removed frontend remotedev-jupyter/frontend-demo (it keeps no data)."]
    assert client.stored("Service", "jupyter-demo")


def test_no_server_no_change():
    client = FakeClient()
    client.add(namespace())
    with pytest.raises(EngineError, match="Jupyter Server jupyter-demo not found in namespace remotedev-jupyter"):
        engine(client).run()
    assert not client.applied()


def test_preview_without_a_server_warns():
    client = FakeClient()
    client.add(namespace())
    result = engine(client, check_mode=True, image="registry.invalid/remotedev/frontend:1").run()
    assert any("is not in namespace remotedev-jupyter yet" in w for w in result["warnings"])
    assert not client.stored("Deployment", "frontend-demo")
