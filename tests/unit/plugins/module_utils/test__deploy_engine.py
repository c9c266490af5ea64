# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of _deploy_engine: converge, check mode, diffs, removal, the
rollout wait and render, against an in-memory fake of the API client."""

from __future__ import annotations

import base64
import hashlib
import copy
import json
import os

import pytest
import yaml

from ansible_collections.remotedev.jupyter.plugins.module_utils import _deploy_common as dc
from ansible_collections.remotedev.jupyter.plugins.module_utils._deploy_engine import (
    Engine,
    EngineError,
    InvalidSettings,
    comparable,
    component_for,
    merge_results,
    run_all,
    to_yaml,
)
from ansible_collections.remotedev.jupyter.plugins.module_utils._k8s_client import RESOURCES, KubeError
from ansible_collections.remotedev.jupyter.tests.unit.plugins.module_utils.role_settings import settings_for

NS = "remotedev-jupyter"
TOKEN = "engine-test-token-0123456789abcdefghijklmnopqrstuv"


def jupyter_settings(**overrides):
    overrides.setdefault("token", TOKEN)
    return settings_for("jupyter_server", **overrides)


# ---------------------------------------------------------------- the fake API client


SERVER_FIELDS = ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields")


def content(obj):
    """What apply compares: the object without status and server-owned metadata."""
    clean = copy.deepcopy(obj)
    clean.pop("status", None)
    for key in SERVER_FIELDS:
        clean.get("metadata", {}).pop(key, None)
    return clean


class FakeClient:
    """An in-memory API: objects by (apiVersion, kind, namespace, name); records every call.

    apply stores the object and bumps metadata.resourceVersion only when its
    content changed; with dry_run it answers the same without storing. Like the
    API server, a namespaced object cannot be applied (not even as a dry run)
    in a namespace that does not exist."""

    def __init__(self, served=()):
        self.objects = {}
        self.calls = []
        self.served = set(served)
        self.version = 100
        self.pods = []
        self.events = []
        self.deployment_status = None
        self.closed = 0

    @staticmethod
    def key(api_version, kind, name, namespace):
        namespaced = RESOURCES[api_version][kind][1]
        return (api_version, kind, namespace if namespaced else None, name)

    def add(self, obj):
        meta = obj["metadata"]
        stored = copy.deepcopy(obj)
        self.version += 1
        stored["metadata"].setdefault("resourceVersion", str(self.version))
        self.objects[self.key(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))] = stored
        return stored

    def stored(self, kind, name, namespace=NS):
        for (_api, k, ns, n), obj in self.objects.items():
            if k == kind and n == name and ns in (namespace, None):
                return obj
        return None

    def kinds(self):
        return sorted("%s/%s" % (k[1], k[3]) for k in self.objects)

    def get(self, api_version, kind, name, namespace=None):
        self.calls.append(("get", kind, name))
        obj = self.objects.get(self.key(api_version, kind, name, namespace))
        return copy.deepcopy(obj)

    def list(self, api_version, kind, namespace=None, label_selector=None, field_selector=None):
        self.calls.append(("list", kind, label_selector or field_selector))
        if kind == "Pod":
            return copy.deepcopy(self.pods() if callable(self.pods) else self.pods)
        if kind == "Event":
            return copy.deepcopy(self.events)
        return [copy.deepcopy(o) for k, o in self.objects.items() if k[1] == kind and k[2] == namespace]

    def apply(self, obj, dry_run=False, force=True):
        meta = obj["metadata"]
        self.calls.append(("apply", obj["kind"], meta["name"], dry_run, force))
        key = self.key(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
        if key[2] and not self.objects.get(("v1", "Namespace", None, key[2])):
            raise KubeError(404, "NotFound", "namespaces \"%s\" not found" % key[2])
        current = self.objects.get(key)
        if current is not None and content(current) == content(obj):
            result = copy.deepcopy(current)
        else:
            result = copy.deepcopy(obj)
            self.version += 1
            result["metadata"]["resourceVersion"] = str(self.version)
            result["metadata"]["uid"] = (current or {}).get("metadata", {}).get("uid", "uid-%d" % self.version)
            result["metadata"]["managedFields"] = [{"manager": "remotedev-jupyter", "operation": "Apply"}]
        if obj["kind"] == "Deployment" and self.deployment_status is not None:
            result["status"] = copy.deepcopy(self.deployment_status)
        if not dry_run:
            self.objects[key] = copy.deepcopy(result)
        return result

    def delete(self, api_version, kind, name, namespace=None, dry_run=False):
        self.calls.append(("delete", kind, name, dry_run))
        key = self.key(api_version, kind, name, namespace)
        if key not in self.objects:
            return False
        if not dry_run:
            del self.objects[key]
        return True

    def api_served(self, api_version):
        self.calls.append(("api_served", api_version))
        return api_version in self.served

    def close(self):
        self.closed += 1

    def applied(self):
        return [c for c in self.calls if c[0] == "apply"]

    def deleted(self):
        return [c for c in self.calls if c[0] == "delete"]


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += max(seconds, 0.001)


def engine(client, prefix="jupyter_server", settings=None, check_mode=False, diff=False, clock=None, **overrides):
    if settings is None:
        settings = jupyter_settings(**overrides) if prefix == "jupyter_server" else settings_for(prefix, **overrides)
    clock = clock or FakeClock()
    return Engine(component_for(prefix, settings), check_mode=check_mode, diff=diff, client=client,
                  clock=clock, sleep=clock.sleep, poll_interval=1)


def namespace(name=NS):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


JUPYTER_KINDS = ["ConfigMap/jupyter-demo", "Deployment/jupyter-demo", "Namespace/remotedev-jupyter",
                 "NetworkPolicy/jupyter-demo", "PersistentVolumeClaim/jupyter-demo", "Secret/jupyter-demo",
                 "Service/jupyter-demo"]


def all_text(result):
    return json.dumps(result, sort_keys=True, default=str)


def secret_data(client, name="jupyter-demo"):
    return {k: base64.b64decode(v).decode() for k, v in client.stored("Secret", name)["data"].items()}


# ---------------------------------------------------------------- converge


def test_first_converge_creates_everything():
    client = FakeClient()
    result = engine(client).run()
    assert result["changed"] is True
    assert sorted(result["changes"]) == sorted("created " + k for k in JUPYTER_KINDS)
    assert result["changes"][0] == "created Namespace/remotedev-jupyter"
    assert client.kinds() == JUPYTER_KINDS
    assert secret_data(client)["token"] == TOKEN
    assert result["connection"]["in_cluster_url"] == "http://jupyter-demo.remotedev-jupyter.svc.cluster.local:8888/"
    assert result["connection"]["secret_name"] == "jupyter-demo"
    assert all(call[3] is False and call[4] is True for call in client.applied())
    assert client.closed == 1
    assert "diff" not in result
    assert TOKEN not in all_text(result)
    # The namespace was new: only it was looked up, none of the objects in it.
    assert [c for c in client.calls if c[0] == "get"] == [("get", "Namespace", "remotedev-jupyter")]


def test_second_converge_is_unchanged_and_keeps_the_generated_token():
    client = FakeClient()
    settings = jupyter_settings(token="")
    engine(client, settings=settings).run()
    token = secret_data(client)["token"]
    assert len(token) == 48
    versions = {k: o["metadata"]["resourceVersion"] for k, o in client.objects.items()}
    result = engine(client, settings=settings, diff=True).run()
    assert result["changed"] is False
    assert result["changes"] == []
    assert "diff" not in result
    assert secret_data(client)["token"] == token
    assert {k: o["metadata"]["resourceVersion"] for k, o in client.objects.items()} == versions


def test_a_setting_change_updates_only_what_it_touches():
    client = FakeClient()
    engine(client).run()
    result = engine(client, cull_idle_timeout=120, diff=True).run()
    assert result["changed"] is True
    assert sorted(result["changes"]) == ["updated ConfigMap/jupyter-demo", "updated Deployment/jupyter-demo"]
    configmap_diff = next(d for d in result["diff"] if d["before_header"].startswith("ConfigMap/"))
    assert "cull_idle_timeout = 3600" in configmap_diff["before"]
    assert "cull_idle_timeout = 120" in configmap_diff["after"]
    assert configmap_diff["before_header"] == "ConfigMap/jupyter-demo (live)"
    assert "resourceVersion" not in configmap_diff["after"] and "managedFields" not in configmap_diff["after"]


def test_switching_off_ingress_deletes_it():
    client = FakeClient()
    engine(client, ingress_enabled=True, ingress_hosts=["jupyter.example"]).run()
    assert client.stored("Ingress", "jupyter-demo") is not None
    result = engine(client).run()
    assert result["changes"] == ["deleted Ingress/jupyter-demo"]
    assert client.stored("Ingress", "jupyter-demo") is None
    # Nothing else disappeared; the Route was not looked for without the API.
    assert client.kinds() == JUPYTER_KINDS
    assert ("get", "Route", "jupyter-demo") not in client.calls


def test_switching_off_network_policy_deletes_it():
    client = FakeClient()
    engine(client).run()
    result = engine(client, network_policy_enabled=False).run()
    assert result["changes"] == ["deleted NetworkPolicy/jupyter-demo"]


def test_empty_image_keeps_the_running_one():
    client = FakeClient()
    engine(client).run()
    result = engine(client, image="").run()
    assert result["changed"] is False
    container = client.stored("Deployment", "jupyter-demo")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example/jupyter-server:1.0"


def test_kube_error_is_reported_with_what_changed():
    class Refusing(FakeClient):
        def apply(self, obj, dry_run=False, force=True):
            if obj["kind"] == "ConfigMap":
                raise KubeError(422, "Invalid", "ConfigMap \"jupyter-demo\" is invalid")
            return super().apply(obj, dry_run, force)

    client = Refusing()
    with pytest.raises(EngineError) as info:
        engine(client).run()
    message = str(info.value)
    assert message.startswith("Jupyter Server remotedev-jupyter/jupyter-demo: the Kubernetes API refused a request: "
                              "422 Invalid: ConfigMap \"jupyter-demo\" is invalid.")
    assert message.endswith("Changed before the failure: created Namespace/remotedev-jupyter, created Secret/jupyter-demo "
                            "(a request in flight may have been applied too); run again to converge.")
    assert client.closed == 1


def test_connection_lost_after_a_write_does_not_claim_nothing_changed():
    """The API server going away mid-converge (Molecule's faults.yml does it for real)."""
    class Vanishing(FakeClient):
        def apply(self, obj, dry_run=False, force=True):
            if obj["kind"] == "Deployment":
                raise KubeError(0, "", "Connection reset by peer")
            return super().apply(obj, dry_run, force)

    with pytest.raises(EngineError) as info:
        engine(Vanishing()).run()
    message = str(info.value)
    assert message.startswith("Cannot reach the Kubernetes API")
    assert "Nothing was changed" not in message
    assert "Changed before the failure: created Namespace/remotedev-jupyter" in message
    assert message.endswith("run again to converge.")


def test_connection_lost_before_any_write_says_nothing_changed():
    class Unreachable(FakeClient):
        def get(self, api_version, kind, name, namespace=None):
            raise KubeError(0, "", "Connection refused")

    with pytest.raises(EngineError) as info:
        engine(Unreachable()).run()
    assert str(info.value).endswith("Nothing was changed.")


# ---------------------------------------------------------------- check mode


def test_check_mode_applies_nothing_and_reports_would_create():
    client = FakeClient()
    client.add(namespace())
    result = engine(client, check_mode=True, diff=True).run()
    assert result["changed"] is True
    assert sorted(result["changes"]) == sorted("would create " + k for k in JUPYTER_KINDS
                                               if not k.startswith("Namespace/")) + ["would update Namespace/" + NS]
    assert client.applied() and all(call[3] is True for call in client.applied())
    assert client.kinds() == ["Namespace/" + NS]
    assert all(d["after_header"].endswith(" (dry run)") for d in result["diff"])
    assert TOKEN not in all_text(result)


def test_check_mode_after_converge_reports_nothing():
    client = FakeClient()
    engine(client).run()
    before = copy.deepcopy(client.objects)
    result = engine(client, check_mode=True).run()
    assert result["changed"] is False and result["changes"] == []
    assert client.objects == before


def test_check_mode_reports_would_delete():
    client = FakeClient()
    engine(client, ingress_enabled=True, ingress_hosts=["j.example"]).run()
    result = engine(client, check_mode=True).run()
    assert result["changes"] == ["would delete Ingress/jupyter-demo"]
    assert client.stored("Ingress", "jupyter-demo") is not None
    assert client.deleted()[-1] == ("delete", "Ingress", "jupyter-demo", True)


def test_check_mode_with_missing_namespace_lists_what_would_be_created():
    client = FakeClient()
    result = engine(client, check_mode=True, diff=True, namespace_create=False).run()
    expected = [k for k in JUPYTER_KINDS if not k.startswith("Namespace/")]
    assert sorted(c[len("would create "):] for c in result["changes"]) == expected
    assert all(c.startswith("would create ") for c in result["changes"])
    assert client.applied() == [] and client.objects == {}
    first = result["summary"][0]
    assert first.startswith("Namespace remotedev-jupyter does not exist yet; a converge would create Secret/jupyter-demo, ")
    for kind in expected:
        assert kind in first
    secret_diff = next(d for d in result["diff"] if d["after_header"].startswith("Secret/"))
    redacted = {"token": dc.REDACTED, "password-hash": dc.REDACTED, "jupyter_server_config.json": dc.REDACTED,
                dc.CHECKSUM_KEY: dc.REDACTED}
    assert yaml.safe_load(secret_diff["after"])["data"] == redacted
    assert TOKEN not in all_text(result)


def test_check_mode_with_missing_namespace_to_be_created():
    # Only the Namespace is dry-run applied: the API refuses a dry run of a
    # namespaced object while its namespace does not exist (the fake does too).
    client = FakeClient()
    result = engine(client, check_mode=True).run()
    assert client.applied() == [("apply", "Namespace", NS, True, True)]
    assert client.objects == {}
    assert result["changes"][0] == "would create Namespace/remotedev-jupyter"
    assert sorted(result["changes"][1:]) == sorted("would create " + k for k in JUPYTER_KINDS
                                                   if not k.startswith("Namespace/"))
    assert result["summary"][0].startswith("Namespace remotedev-jupyter does not exist yet; a converge would create "
                                           "Secret/jupyter-demo, ConfigMap/jupyter-demo, ")
    assert "Namespace/" not in result["summary"][0]


# ---------------------------------------------------------------- secrets stay out of results


def test_diffs_never_contain_the_token_or_the_password_hash():
    client = FakeClient()
    first = engine(client, diff=True, password="first password").run()
    data = secret_data(client)
    password_hash = data["password-hash"]
    assert password_hash.startswith("argon2:")
    secret_diff = next(d for d in first["diff"] if d["after_header"].startswith("Secret/"))
    assert yaml.safe_load(secret_diff["after"])["data"]["token"] == dc.REDACTED
    second = engine(client, diff=True, password="second password").run()
    new_hash = secret_data(client)["password-hash"]
    assert new_hash != password_hash
    assert sorted(second["changes"]) == ["updated Deployment/jupyter-demo", "updated Secret/jupyter-demo"]
    secret_diff = next(d for d in second["diff"] if d["after_header"].startswith("Secret/"))
    assert yaml.safe_load(secret_diff["after"])["data"] == {
        "token": "(redacted, unchanged)", "password-hash": "(redacted, changed)",
        "jupyter_server_config.json": "(redacted, changed)", dc.CHECKSUM_KEY: "(redacted, unchanged)"}
    assert yaml.safe_load(secret_diff["before"])["data"]["password-hash"] == dc.REDACTED
    text = all_text(first) + all_text(second)
    for secret in (TOKEN, password_hash, new_hash, "first password", "second password"):
        assert secret not in text
        assert dc.b64(secret) not in text
    for value in data.values():
        assert dc.b64(value) not in text


# ---------------------------------------------------------------- remove


def test_absent_removes_all_but_the_pvc():
    client = FakeClient()
    engine(client, ingress_enabled=True, ingress_hosts=["j.example"]).run()
    result = engine(client, state="absent").run()
    assert result["changed"] is True
    assert client.kinds() == ["Namespace/" + NS, "PersistentVolumeClaim/jupyter-demo"]
    assert result["changes"] == ["deleted Ingress/jupyter-demo", "deleted Deployment/jupyter-demo",
                                 "deleted Service/jupyter-demo", "deleted NetworkPolicy/jupyter-demo",
                                 "deleted ConfigMap/jupyter-demo", "deleted Secret/jupyter-demo"]
    assert result["summary"] == ["Kept PersistentVolumeClaim remotedev-jupyter/jupyter-demo (notebooks); a new "
                                 "converge reattaches it. Purge with jupyter_server_purge_data=true."]
    again = engine(client, state="absent").run()
    assert again["changed"] is False


def test_absent_with_purge_data_removes_the_pvc():
    client = FakeClient()
    engine(client).run()
    result = engine(client, state="absent", purge_data=True).run()
    assert client.kinds() == ["Namespace/" + NS]
    assert result["changes"][-1] == "deleted PersistentVolumeClaim/jupyter-demo"
    assert result["summary"] == ["Purged PersistentVolumeClaim remotedev-jupyter/jupyter-demo (notebooks deleted)."]


def test_absent_in_check_mode_deletes_nothing():
    client = FakeClient()
    engine(client).run()
    before = copy.deepcopy(client.objects)
    result = engine(client, state="absent", purge_data=True, check_mode=True).run()
    assert client.objects == before
    assert "would delete PersistentVolumeClaim/jupyter-demo" in result["changes"]
    assert all(call[3] is True for call in client.deleted())


def test_absent_without_namespace():
    result = engine(FakeClient(), state="absent").run()
    assert result["changed"] is False
    assert result["summary"] == ["Namespace remotedev-jupyter does not exist: nothing to remove."]


def test_absent_fails_while_pods_stay():
    client = FakeClient()
    engine(client).run()
    client.pods = [{"metadata": {"name": "jupyter-demo-abc"}, "status": {}}]
    with pytest.raises(EngineError, match=r"its pods are still there after 600s \(they hold the PVC\)"):
        engine(client, state="absent").run()


# ---------------------------------------------------------------- wait


def pod(name, labels, ready=True, waiting=None):
    container = {"name": "jupyter-server", "ready": ready, "restartCount": 0,
                 "state": {"running": {}} if ready else {"waiting": waiting or {"reason": "ContainerCreating"}}}
    return {"metadata": {"name": name, "namespace": NS, "labels": labels},
            "status": {"phase": "Running" if ready else "Pending",
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                       "containerStatuses": [container]}}


AVAILABLE = {"conditions": [{"type": "Available", "status": "True", "message": "Deployment has minimum availability."}]}
UNAVAILABLE = {"conditions": [{"type": "Available", "status": "False",
                               "message": "Deployment does not have minimum availability."}]}


def test_wait_until_the_pods_of_this_template_are_ready():
    client = FakeClient()
    client.deployment_status = AVAILABLE
    client.pods = lambda: [pod("jupyter-demo-1", {})]
    result = engine(client, wait=True).run()
    assert result["changed"] is True
    selector = next(c[2] for c in client.calls if c[:2] == ("list", "Pod"))
    digest = dc.pod_template_digest_of(client.stored("Deployment", "jupyter-demo"))
    assert selector == ("app.kubernetes.io/instance=demo,app.kubernetes.io/name=jupyter-server,%s=%s"
                        % (dc.TEMPLATE_LABEL, digest))


class WatchingClient(FakeClient):
    """A client that can watch: the pod becomes ready when the second watch sees a change."""

    def __init__(self):
        super().__init__()
        self.watches = []
        self.ready = False
        self.pods = lambda: [pod("jupyter-demo-1", {}, ready=self.ready)]

    def list_versioned(self, api_version, kind, namespace=None, label_selector=None, field_selector=None):
        return self.list(api_version, kind, namespace, label_selector, field_selector), "v%d" % len(self.watches)

    def wait_for_change(self, api_version, kind, namespace, label_selector, resource_version, timeout):
        self.watches.append((kind, resource_version, timeout))
        self.ready = len(self.watches) >= 2
        return True


def test_wait_watches_instead_of_sleeping():
    client = WatchingClient()
    client.deployment_status = AVAILABLE
    clock = FakeClock()
    engine(client, wait=True, clock=clock).run()
    assert client.watches == [("Pod", "v0", 10), ("Pod", "v1", 10)]  # each from the version it listed
    assert clock.now == 0  # no sleep at all


def test_wait_gives_up_early_on_image_pull_backoff():
    client = FakeClient()
    client.deployment_status = UNAVAILABLE
    client.pods = [pod("jupyter-demo-7f-abc", {}, ready=False, waiting={
        "reason": "ImagePullBackOff", "message": "Back-off pulling image \"registry.example/jupyter_server:1.0\""})]
    client.events = [
        {"type": "Warning", "involvedObject": {"kind": "Pod", "name": "jupyter-demo-6f5d8c7b9-q7w8e"},
         "message": "Failed to pull image: not found"},
        {"type": "Warning", "involvedObject": {"kind": "Pod", "name": "code-server-demo-1"}, "message": "not ours"},
    ]
    clock = FakeClock()
    with pytest.raises(EngineError) as info:
        engine(client, wait=True, clock=clock).run()
    message = str(info.value)
    assert message.startswith("Jupyter Server remotedev-jupyter/jupyter-demo is not ready (gave up early")
    assert "jupyter-server: ImagePullBackOff: Back-off pulling image" in message
    assert "Deployment conditions: Deployment does not have minimum availability." in message
    assert "Warnings: Failed to pull image: not found." in message
    assert "not ours" not in message
    assert clock.now < 1  # no waiting for the timeout
    assert ("list", "Event", "type=Warning") in client.calls


def test_wait_times_out():
    client = FakeClient()
    client.pods = [pod("jupyter-demo-7f-abc", {}, ready=False)]
    clock = FakeClock()
    with pytest.raises(EngineError, match="is not ready after 30s. Containers: none waiting."):
        engine(client, wait=True, wait_timeout=30, clock=clock).run()
    assert clock.now == pytest.approx(30)


def test_no_wait_in_check_mode_or_with_zero_replicas():
    client = FakeClient()
    client.add(namespace())
    engine(client, wait=True, check_mode=True).run()
    engine(client, wait=True, replicas=0).run()
    assert not [c for c in client.calls if c[:2] == ("list", "Pod")]


# ---------------------------------------------------------------- preflight


def test_preflight_errors_change_nothing():
    client = FakeClient()
    client.add(namespace())
    cases = [
        (dict(storage_class="fast"), "StorageClass fast (jupyter_server_storage_class) does not exist"),
        (dict(image_pull_secrets=["regcred"]), "Image pull secret(s) regcred not found in namespace remotedev-jupyter"),
        (dict(route_enabled=True, route_host="j.example"), "cluster serves no route.openshift.io/v1 API"),
        (dict(namespace="other", namespace_create=False), "Namespace other does not exist and "
                                                          "jupyter_server_namespace_create is false"),
        (dict(image=""), "jupyter_server_image is empty and Jupyter Server remotedev-jupyter/jupyter-demo runs no image"),
    ]
    for overrides, message in cases:
        with pytest.raises(EngineError) as info:
            engine(client, **overrides).run()
        assert message in str(info.value)
        assert str(info.value).endswith("Nothing was changed.")
    assert client.applied() == [] and client.deleted() == []


def test_invalid_settings_are_raised_before_any_call():
    client = FakeClient()
    with pytest.raises(InvalidSettings, match="jupyter_server_port=0"):
        engine(client, port=0).run()
    assert client.calls == []


def test_route_when_the_api_is_served():
    client = FakeClient(served=["route.openshift.io/v1"])
    engine(client, route_enabled=True, route_host="j.apps.example").run()
    assert client.stored("Route", "jupyter-demo")["spec"]["host"] == "j.apps.example"
    result = engine(client).run()
    assert result["changes"] == ["deleted Route/jupyter-demo"]


# ---------------------------------------------------------------- code-server through the client contract


def test_code_server_finds_the_jupyter_server_and_keeps_its_password():
    client = FakeClient()
    engine(client).run()
    first = engine(client, "code_server").run()
    assert "created Deployment/code-server-demo" in first["changes"]
    data = secret_data(client, "code-server-demo")
    assert set(data) == {"hashed-password", "password", "config.yaml", dc.CHECKSUM_KEY}
    pod = client.stored("Deployment", "code-server-demo")["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in pod["containers"][0]["env"]}
    assert env == {"CODE_SERVER_CONFIG": "/etc/code-server/config.yaml",
                   "JUPYTER_SERVER_URL": "http://jupyter-demo.remotedev-jupyter.svc.cluster.local:8888/",
                   "JUPYTER_TOKEN_FILE": "/etc/jupyter-server/token"}
    token_volume = next(v for v in pod["volumes"] if v["name"] == "jupyter-token")
    assert token_volume["secret"]["items"] == [{"key": "token", "path": "token"}]
    assert first["connection"]["jupyter_url"] == "http://jupyter-demo.remotedev-jupyter.svc.cluster.local:8888/"
    assert data["password"] not in all_text(first)
    second = engine(client, "code_server").run()
    assert second["changed"] is False
    assert secret_data(client, "code-server-demo") == data


def test_code_server_rolls_when_the_jupyter_token_changes():
    """The Jupyter extension keeps the token it connected with: a new token must roll code-server."""
    client = FakeClient()
    engine(client).run()
    engine(client, "code_server").run()
    template = client.stored("Deployment", "code-server-demo")["spec"]["template"]["metadata"]
    digest = template["labels"][dc.TEMPLATE_LABEL]
    checksum = template["annotations"][dc.SECRET_CHECKSUM_ANNOTATION]
    token = secret_data(client)["token"]
    # Keyed with the code-server Secret's key: not a hash of the token anyone may test guesses against.
    assert checksum not in {hashlib.sha256(text.encode()).hexdigest()
                            for text in (token, hashlib.sha256(token.encode()).hexdigest())}
    engine(client, token="", regenerate_token=True).run()
    again = engine(client, "code_server").run()
    assert "updated Deployment/code-server-demo" in again["changes"]
    labels = client.stored("Deployment", "code-server-demo")["spec"]["template"]["metadata"]["labels"]
    assert labels[dc.TEMPLATE_LABEL] != digest
    assert secret_data(client)["token"] not in all_text(again)


def test_upgrade_adds_the_checksum_key_once_then_nothing_changes():
    """A Secret from before the keyed checksum gets its key (one roll), then converges stay no-ops."""
    client = FakeClient()
    engine(client).run()
    secret = client.stored("Secret", "jupyter-demo")
    del secret["data"][dc.CHECKSUM_KEY]
    upgraded = engine(client).run()
    assert sorted(upgraded["changes"]) == ["updated Deployment/jupyter-demo", "updated Secret/jupyter-demo"]
    assert engine(client).run()["changed"] is False


def test_code_server_without_its_jupyter_server():
    client = FakeClient()
    client.add(namespace())
    with pytest.raises(EngineError, match="Jupyter Server jupyter-demo not found in namespace remotedev-jupyter"):
        engine(client, "code_server").run()
    assert client.applied() == []


def test_code_server_needs_the_namespace():
    with pytest.raises(EngineError, match="Run the jupyter_server role first"):
        engine(FakeClient(), "code_server").run()


# ---------------------------------------------------------------- a code-server per user (code_server_users)


def converge_with_users(client, check_mode=False, diff=False, **overrides):
    shared = component_for("code_server", settings_for("code_server", **overrides))

    def make(instance):
        clock = FakeClock()
        return Engine(instance, check_mode=check_mode, diff=diff, client=client, clock=clock, sleep=clock.sleep,
                      poll_interval=1)

    return run_all([shared] + shared.user_instances(), make)


def users_jupyter(client, users=("ada", "bob")):
    engine(client, users=[{"name": u, "role": "user"} for u in users]).run()


def test_each_user_gets_a_code_server_with_their_token_file_volume_and_password():
    client = FakeClient()
    users_jupyter(client)
    result = converge_with_users(client, users=[{"name": "ada"}, {"name": "bob", "password": "bob-code-pw-1"}])
    for name in ("code-server-demo", "code-server-demo-ada", "code-server-demo-bob"):
        for kind in ("Deployment", "Service", "PersistentVolumeClaim", "Secret", "NetworkPolicy"):
            assert "created %s/%s" % (kind, name) in result["changes"]
    pod = client.stored("Deployment", "code-server-demo-ada")["spec"]["template"]
    assert pod["metadata"]["labels"]["app.kubernetes.io/instance"] == "demo-ada"
    assert pod["metadata"]["labels"]["remotedev.jupyter/user"] == "ada"
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "jupyter-token")
    assert volume["secret"] == {"secretName": "jupyter-demo-users", "defaultMode": 0o440,
                                "items": [{"key": "token-ada", "path": "token"}]}
    home = next(v for v in pod["spec"]["volumes"] if v["name"] == "home")
    assert home["persistentVolumeClaim"]["claimName"] == "code-server-demo-ada"
    env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
    assert env["JUPYTER_TOKEN_FILE"] == "/etc/jupyter-server/token"
    users_secret = secret_data(client, "jupyter-demo-users")
    assert users_secret["token-ada"] not in json.dumps(pod)
    # The shared Service selects its own pods only, not the users'.
    selector = client.stored("Service", "code-server-demo")["spec"]["selector"]
    assert selector["app.kubernetes.io/instance"] == "demo"
    ada, bob = secret_data(client, "code-server-demo-ada"), secret_data(client, "code-server-demo-bob")
    assert ada["password"] != secret_data(client, "code-server-demo")["password"]
    assert "password" not in bob  # given, so only its hash is kept
    assert set(result["connection"]["users"]) == {"ada", "bob"}
    assert any("code-server-demo-ada (user ada)" in line for line in result["summary"])
    for secret in (ada["password"], users_secret["token-ada"], users_secret["token-bob"], "bob-code-pw-1"):
        assert secret not in all_text(result)
    again = converge_with_users(client, users=[{"name": "ada"}, {"name": "bob", "password": "bob-code-pw-1"}])
    assert again["changed"] is False
    assert secret_data(client, "code-server-demo-ada") == ada


def test_a_users_new_token_rolls_only_that_users_code_server():
    client = FakeClient()
    users_jupyter(client)
    converge_with_users(client, users=[{"name": "ada"}, {"name": "bob"}])
    users = client.stored("Secret", "jupyter-demo-users")
    del users["data"]["token-ada"]
    users_jupyter(client)
    again = converge_with_users(client, users=[{"name": "ada"}, {"name": "bob"}])
    assert again["changes"] == ["updated Deployment/code-server-demo-ada"]


def test_check_mode_and_diff_for_users_apply_nothing_and_show_no_secret():
    client = FakeClient()
    users_jupyter(client)
    before = copy.deepcopy(client.objects)
    result = converge_with_users(client, check_mode=True, diff=True, users=[{"name": "ada", "password": "ada-code-pw-1"}])
    assert "would create Deployment/code-server-demo-ada" in result["changes"]
    assert client.objects == before
    assert any("code-server-demo-ada" in d["after_header"] for d in result["diff"])
    assert "ada-code-pw-1" not in all_text(result)
    assert secret_data(client, "jupyter-demo-users")["token-ada"] not in all_text(result)


@pytest.mark.parametrize("users, message", [
    ([{"name": "Ada"}], r"code_server_users\[0\]\.name must be a user"),
    ([{"name": "ada.l"}], r"code_server_users\[0\]\.name must be a user"),
    ([{"name": "ada"}, {"name": "ada"}], r"code_server_users\[1\] \(ada\): the name appears twice"),
    ([{"name": "ada", "password": "short"}], r"code_server_users\[0\] \(ada\)\.password is 5 characters long"),
    ([{"name": "ada", "password_hash": "nope"}], r"code_server_users\[0\] \(ada\)\.password_hash is not a hash"),
    ([{"name": "ada", "ingress_hosts": ["Bad Host"]}], r"code_server_users\[0\] \(ada\)\.ingress_hosts must be DNS"),
    ([{"name": "a" * 60}], r"must be at most 63 characters"),
], ids=["upper-case", "dot", "twice", "short-password", "bad-hash", "bad-host", "too-long"])
def test_bad_user_entries_change_nothing(users, message):
    client = FakeClient()
    users_jupyter(client)
    before = copy.deepcopy(client.objects)
    with pytest.raises(InvalidSettings, match=message):
        converge_with_users(client, users=users)
    assert client.objects == before


def test_users_need_a_jupyter_server():
    with pytest.raises(InvalidSettings, match="code_server_users needs a Jupyter Server"):
        converge_with_users(FakeClient(), users=[{"name": "ada"}], jupyter_name="")


def test_a_user_unknown_to_the_jupyter_server_is_named_and_left_untouched():
    client = FakeClient()
    users_jupyter(client, users=("ada",))
    with pytest.raises(EngineError, match=r"user bob has no token in Secret jupyter-demo-users .*Done before: created") as failed:
        converge_with_users(client, users=[{"name": "bob"}])
    assert failed.value.changed is True
    assert client.stored("Deployment", "code-server-demo-bob") is None


def test_a_users_code_server_is_removed_by_state_absent_and_keeps_its_volume():
    client = FakeClient()
    users_jupyter(client)
    converge_with_users(client, users=[{"name": "ada"}])
    result = converge_with_users(client, users=[{"name": "ada", "state": "absent"}])
    assert "deleted Deployment/code-server-demo-ada" in result["changes"]
    assert client.stored("Deployment", "code-server-demo") is not None
    assert client.stored("PersistentVolumeClaim", "code-server-demo-ada") is not None


def test_a_users_ingress_only_for_its_own_hosts():
    client = FakeClient()
    users_jupyter(client)
    converge_with_users(client, users=[{"name": "ada", "ingress_hosts": ["ada.code.example"]}, {"name": "bob"}],
                        ingress_enabled=True, ingress_hosts=["team.code.example"])
    rule_hosts = [r["host"] for r in client.stored("Ingress", "code-server-demo-ada")["spec"]["rules"]]
    assert rule_hosts == ["ada.code.example"]
    assert client.stored("Ingress", "code-server-demo-bob") is None


def test_merge_results_keeps_order_and_reports_any_change():
    first = {"changed": False, "changes": [], "summary": ["a"], "connection": {"name": "x", "user": ""}}
    second = {"changed": True, "changes": ["created Service/x-ada"], "summary": ["b"], "warnings": ["w"],
              "diff": [{"after_header": "x-ada"}], "connection": {"name": "x-ada", "user": "ada"}}
    merged = merge_results([first, second])
    assert merged["changed"] is True
    assert merged["changes"] == ["created Service/x-ada"]
    assert merged["summary"] == ["a", "b"]
    assert merged["warnings"] == ["w"] and merged["diff"] == [{"after_header": "x-ada"}]
    assert merged["connection"]["users"] == {"ada": {"name": "x-ada", "user": "ada"}}
    assert merge_results([first]) == first


# ---------------------------------------------------------------- render


def test_render_redacts_the_secret(tmp_path):
    dest = tmp_path / "manifests.yaml"
    result = engine(None, render_only=True, render_dest=str(dest), password="render password").run()
    assert result["changed"] is True
    assert result["changes"] == ["rendered %s" % dest]
    text = dest.read_text()
    assert text.startswith("# Rendered by remotedev.jupyter.jupyter_server (render_only); Secret values redacted.\n")
    documents = list(yaml.safe_load_all(text))
    assert [d["kind"] for d in documents] == ["Namespace", "Secret", "ConfigMap", "PersistentVolumeClaim",
                                              "NetworkPolicy", "Service", "Deployment"]
    secret = documents[1]
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == {
        "token": "REDACTED", "password-hash": "REDACTED", "jupyter_server_config.json": "REDACTED",
        dc.CHECKSUM_KEY: "REDACTED"}
    for secret_text in (TOKEN, dc.b64(TOKEN), "render password", "argon2:"):
        assert secret_text not in text
    assert oct(os.stat(dest).st_mode & 0o777) == "0o644"
    assert "render password" not in all_text(result)


def test_render_is_idempotent_with_an_explicit_token(tmp_path):
    dest = tmp_path / "manifests.yaml"
    engine(None, render_only=True, render_dest=str(dest)).run()
    content_before = dest.read_text()
    again = engine(None, render_only=True, render_dest=str(dest)).run()
    assert again["changed"] is False and again["changes"] == []
    assert dest.read_text() == content_before


def test_render_in_check_mode_writes_nothing(tmp_path):
    dest = tmp_path / "manifests.yaml"
    result = engine(None, render_only=True, render_dest=str(dest), check_mode=True).run()
    assert result["changed"] is True
    assert not dest.exists()


def test_render_is_idempotent_with_a_generated_token(tmp_path):
    dest = tmp_path / "manifests.yaml"
    engine(None, render_only=True, render_dest=str(dest), token="").run()
    again = engine(None, render_only=True, render_dest=str(dest), token="").run()
    assert again["changed"] is False


# ---------------------------------------------------------------- helpers


def test_comparable_drops_server_fields():
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "status": {"x": 1},
           "metadata": {"name": "c", "resourceVersion": "5", "uid": "u", "managedFields": [], "generation": 2,
                        "creationTimestamp": "t", "annotations": {"deployment.kubernetes.io/revision": "3"}},
           "data": {"k": "v"}}
    assert comparable(obj) == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}}
    assert obj["metadata"]["uid"] == "u"  # a copy
    assert comparable(None) is None
    kept = comparable({"metadata": {"annotations": {"a": "b", "deployment.kubernetes.io/revision": "1"}}})
    assert kept == {"metadata": {"annotations": {"a": "b"}}}


def test_to_yaml_keeps_order_and_multiline_strings():
    text = to_yaml({"b": 1, "a": "line1\nline2\n", "c": "x"})
    assert text.index("b:") < text.index("a:") < text.index("c:")
    assert "a: |\n  line1\n  line2\n" in text
    assert yaml.safe_load(text) == {"b": 1, "a": "line1\nline2\n", "c": "x"}


def test_unknown_component():
    with pytest.raises(EngineError, match="unknown component 'nope'"):
        component_for("nope", {})


# ---------------------------------------------------------------- the pull check of a new image


class PullingClient(FakeClient):
    """Pods the engine applies get the status `outcome(image)` gives: the kubelet's view."""

    def __init__(self, outcome):
        super().__init__()
        self.outcome = outcome

    def apply(self, obj, dry_run=False, force=True):
        result = super().apply(obj, dry_run, force)
        if obj["kind"] == "Pod" and not dry_run:
            image = obj["spec"]["containers"][0]["image"]
            self.objects[self.key("v1", "Pod", obj["metadata"]["name"], NS)]["status"] = self.outcome(image)
        return result


def pulled(image):
    return {"containerStatuses": [{"name": "pull-0", "image": image, "state": {"terminated": {"exitCode": 0}}}]}


def not_found(image):
    return {"containerStatuses": [{"name": "pull-0", "image": image, "state": {"waiting": {
        "reason": "ErrImagePull", "message": "failed to pull and unpack image \"%s\": not found" % image}}}]}


def test_a_new_image_is_pulled_by_a_check_pod_before_the_roll():
    client = PullingClient(pulled)
    engine(client).run()
    result = engine(client, image="registry.example/jupyter-server:2.0").run()
    assert result["changed"] is True
    container = client.stored("Deployment", "jupyter-demo")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example/jupyter-server:2.0"
    pod_calls = [c for c in client.calls if c[1] == "Pod" and c[0] in ("apply", "delete")]
    assert pod_calls[0][:3] == ("delete", "Pod", "jupyter-demo-image-check")  # one a killed run left behind
    assert pod_calls[1][:3] == ("apply", "Pod", "jupyter-demo-image-check")
    assert pod_calls[-1][:3] == ("delete", "Pod", "jupyter-demo-image-check")
    apply_order = [c[1] for c in client.applied()]
    assert apply_order.index("Pod") < len(apply_order) - apply_order[::-1].index("Deployment") - 1
    assert client.stored("Pod", "jupyter-demo-image-check") is None


def test_an_image_no_node_can_pull_changes_nothing():
    client = PullingClient(not_found)
    engine(client).run()
    before = copy.deepcopy(client.objects)
    with pytest.raises(EngineError) as info:
        engine(client, image="registry.example/jupyter-server:never-pushed", replicas=1).run()
    message = str(info.value)
    assert message.startswith("Jupyter Server remotedev-jupyter/jupyter-demo: the new image "
                              "registry.example/jupyter-server:never-pushed cannot be pulled (ErrImagePull: ")
    assert message.endswith("so the running pod was left alone. Nothing was changed.")
    assert client.objects == before  # the check pod deleted again, nothing else touched


def test_no_check_pod_for_an_unchanged_image_a_first_converge_or_check_mode():
    client = PullingClient(not_found)
    engine(client).run()  # first converge: nothing runs yet, the rollout wait speaks for the image
    engine(client, token=TOKEN + "x").run()  # a change that keeps the image
    engine(client, image="registry.example/jupyter-server:2.0", check_mode=True).run()
    assert not [c for c in client.calls if c[1] == "Pod" and c[0] in ("apply", "delete")]


def test_a_check_pod_no_node_takes_fails_after_the_wait_timeout():
    client = PullingClient(lambda image: {"conditions": [{"type": "PodScheduled", "status": "False",
                                                          "reason": "Unschedulable",
                                                          "message": "0/1 nodes are available"}]})
    engine(client).run()
    clock = FakeClock()
    with pytest.raises(EngineError, match=r"cannot be pulled \(no node takes it: 0/1 nodes are available;"):
        engine(client, image="registry.example/jupyter-server:2.0", wait_timeout=30, clock=clock).run()
    assert clock.now == pytest.approx(30, abs=1)


# ---------------------------------------------------------------- issue 17: first deploys as the runbooks run them


PLACEHOLDER = "<image built by site.yml, or set jupyter_server_image>"


def deployment_image(obj):
    return obj["spec"]["template"]["spec"]["containers"][0]["image"]


@pytest.mark.parametrize("namespace_exists", [False, True], ids=["new-namespace", "existing-namespace"])
def test_check_mode_without_an_image_previews_a_placeholder(namespace_exists):
    """deploy --check --diff before the first site run: a plan, not 'image is empty'."""
    client = FakeClient()
    if namespace_exists:
        client.add(namespace())
    result = engine(client, check_mode=True, diff=True, image="").run()
    after = next(yaml.safe_load(d["after"]) for d in result["diff"] if d["after_header"].startswith("Deployment/"))
    assert deployment_image(after) == PLACEHOLDER
    assert "would create Deployment/jupyter-demo" in result["changes"]
    assert any("jupyter_server_image is empty" in w and "site.yml" in w for w in result["warnings"])
    assert [c for c in client.calls if c[0] == "apply" and not c[3]] == []
    assert client.kinds() == (["Namespace/" + NS] if namespace_exists else [])


def test_converge_without_an_image_names_site_yml():
    with pytest.raises(EngineError) as info:
        engine(FakeClient(), image="").run()
    assert "On a first deploy run playbooks/site.yml" in str(info.value)
    assert str(info.value).endswith("Nothing was changed.")


PULL_CONFIG = json.dumps({"auths": {"registry.example": {"auth": base64.b64encode(b"robot:s3cret-pull").decode()}}})


def test_pull_secrets_named_in_a_namespace_that_does_not_exist_yet():
    """They cannot exist yet: the message says how to get the order right (for check mode too)."""
    for check_mode in (False, True):
        client = FakeClient()
        with pytest.raises(EngineError) as info:
            engine(client, check_mode=check_mode, image_pull_secrets=["regcred"]).run()
        message = str(info.value)
        assert "Namespace remotedev-jupyter does not exist yet, so it holds none of the image pull secrets regcred" in message
        assert "jupyter_server_image_pull_dockerconfigjson" in message and message.endswith("Nothing was changed.")
        assert client.applied() == []


def test_managed_pull_secret_is_created_after_the_namespace_and_before_the_pods():
    client = FakeClient()
    result = engine(client, image_pull_dockerconfigjson=PULL_CONFIG, image_pull_secrets=[]).run()
    order = [c[1] + "/" + c[2] for c in client.applied()]
    assert order.index("Namespace/" + NS) < order.index("Secret/jupyter-demo-pull") < order.index("Deployment/jupyter-demo")
    secret = client.stored("Secret", "jupyter-demo-pull")
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    assert base64.b64decode(secret["data"][".dockerconfigjson"]).decode() == PULL_CONFIG
    pod = client.stored("Deployment", "jupyter-demo")["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "jupyter-demo-pull"}]
    assert "s3cret" not in all_text(result) and base64.b64encode(b"robot:s3cret-pull").decode() not in all_text(result)
    # Named secrets come after the managed one; they must exist once the namespace does.
    client.add({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "regcred", "namespace": NS}, "data": {}})
    engine(client, image_pull_dockerconfigjson=PULL_CONFIG, image_pull_secrets=["regcred"]).run()
    pod = client.stored("Deployment", "jupyter-demo")["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "jupyter-demo-pull"}, {"name": "regcred"}]
    removed = engine(client, image_pull_dockerconfigjson="", image_pull_secrets=["regcred"]).run()
    assert "deleted Secret/jupyter-demo-pull" in removed["changes"]


def test_managed_pull_secret_in_check_mode_before_the_namespace_exists():
    client = FakeClient()
    result = engine(client, check_mode=True, image_pull_dockerconfigjson=PULL_CONFIG).run()
    assert "would create Secret/jupyter-demo-pull" in result["changes"]
    assert client.objects == {}


@pytest.mark.parametrize("config,reason", [
    ("not json", "is not JSON"),
    ('{"registry.example": {"auth": "eA=="}}', "is not a Docker config"),
    ('{"auths": {"registry.example": "eA=="}}', "has auths entries that are not mappings (registry.example)"),
], ids=["not-json", "no-auths", "entry-not-mapping"])
def test_bad_pull_config_is_refused_without_showing_it(config, reason):
    with pytest.raises(InvalidSettings) as info:
        engine(FakeClient(), image_pull_dockerconfigjson=config).run()
    assert "jupyter_server_image_pull_dockerconfigjson %s" % reason in str(info.value)
    assert "(the value is not shown)" in str(info.value)
    assert "eA==" not in str(info.value)


def test_code_server_pull_secrets_are_checked():
    client = FakeClient()
    engine(client).run()
    with pytest.raises(EngineError) as info:
        engine(client, "code_server", image_pull_secrets=["cs-regcred"]).run()
    assert "Image pull secret(s) cs-regcred not found in namespace remotedev-jupyter (code_server_image_pull_secrets)" \
        in str(info.value)
    assert "Deployment/code-server-demo" not in client.kinds()


def test_code_server_manages_its_own_pull_secret():
    client = FakeClient()
    engine(client).run()
    engine(client, "code_server", image_pull_dockerconfigjson=PULL_CONFIG).run()
    assert client.stored("Secret", "code-server-demo-pull")["type"] == "kubernetes.io/dockerconfigjson"
    pod = client.stored("Deployment", "code-server-demo")["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "code-server-demo-pull"}]


def test_rotating_an_explicit_token_is_refused():
    client = FakeClient()
    with pytest.raises(InvalidSettings) as info:
        engine(client, regenerate_token=True).run()
    assert "jupyter_server_regenerate_token (rotate_token=true) cannot replace jupyter_server_token" in str(info.value)
    assert TOKEN not in str(info.value)
    assert client.calls == []


def test_validate_mode_checks_without_a_cluster():
    client = FakeClient()
    assert "the settings are valid" in engine(client, "code_server").validate()["summary"][0]
    with pytest.raises(InvalidSettings, match="code_server_password is 3 characters long"):
        engine(client, "code_server", password="abc").validate()
    assert client.calls == []


def test_default_kernel_is_set_by_the_role():
    """The image's own default is hidden by the ConfigMap over /etc/jupyter."""
    client = FakeClient()
    engine(client, default_kernel="tools").run()
    config = client.stored("ConfigMap", "jupyter-demo")["data"]["jupyter_server_config.py"]
    assert "c.MappingKernelManager.default_kernel_name = 'tools'" in config or \
        'c.MappingKernelManager.default_kernel_name = "tools"' in config
    engine(client, default_kernel="").run()
    assert "default_kernel_name" not in client.stored("ConfigMap", "jupyter-demo")["data"]["jupyter_server_config.py"]
    with pytest.raises(InvalidSettings, match="jupyter_server_default_kernel must be a kernelspec name"):
        engine(client, default_kernel="python 3").run()


def test_code_server_preview_of_a_new_team_in_an_existing_namespace():
    """The Jupyter Server's preview ran as a dry run just before: nothing to find yet."""
    client = FakeClient()
    client.add(namespace())
    result = engine(client, "code_server", check_mode=True, image="").run()
    assert "would create Deployment/code-server-demo" in result["changes"]
    assert any("Jupyter Server jupyter-demo is not in namespace remotedev-jupyter yet" in w for w in result["warnings"])
    with pytest.raises(EngineError, match="Jupyter Server jupyter-demo not found"):
        engine(client, "code_server").run()


def test_absent_removes_kernel_pods_a_killed_server_left_behind():
    client = FakeClient()
    engine(client, pod_kernels=[{"name": "pod"}], image="registry.example.invalid/j:1").run()
    kernel = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "jovyan-k1", "namespace": NS, "labels": {
        "app.kubernetes.io/name": "jupyter-kernel", "app.kubernetes.io/instance": "demo"}}}
    client.add(kernel)
    client.pods = [kernel]
    calls = len(client.calls)
    client.pods = lambda: [kernel] if client.stored("Pod", "jovyan-k1") else []
    result = engine(client, state="absent").run()
    assert ("list", "Pod", "app.kubernetes.io/instance=demo,app.kubernetes.io/name=jupyter-kernel") in client.calls[calls:]
    assert "deleted Pod/jovyan-k1" in result["changes"]
    assert "deleted ServiceAccount/jupyter-demo" in result["changes"]
    assert "deleted Role/jupyter-demo-kernels" in result["changes"]
    assert client.kinds() == ["Namespace/" + NS, "PersistentVolumeClaim/jupyter-demo"]


def test_without_pod_kernels_their_rbac_is_never_looked_for():
    """A deploy identity made from an older deployer.yml (no ServiceAccounts, no
    Roles) keeps working as long as no pod kernel is configured."""
    client = FakeClient()
    engine(client).run()
    engine(client).run()
    engine(client, state="absent").run()
    looked_for = {c[1] for c in client.calls if c[0] in ("get", "delete")}
    assert not looked_for & {"ServiceAccount", "Role", "RoleBinding"}, looked_for


def test_pod_kernels_switched_off_removes_their_objects_configmap_last():
    client = FakeClient()
    engine(client, pod_kernels=[{"name": "pod"}], image="registry.example.invalid/j:1").run()
    assert client.stored("Role", "jupyter-demo-kernels") and client.stored("ServiceAccount", "jupyter-demo")
    result = engine(client, image="registry.example.invalid/j:1").run()
    removed = [c for c in result["changes"] if c.startswith("deleted")]
    assert removed == ["deleted RoleBinding/jupyter-demo-kernels", "deleted Role/jupyter-demo-kernels",
                       "deleted ServiceAccount/jupyter-demo", "deleted NetworkPolicy/jupyter-demo-kernels",
                       "deleted ConfigMap/jupyter-demo-kernels"]
    assert not client.stored("Role", "jupyter-demo-kernels")
