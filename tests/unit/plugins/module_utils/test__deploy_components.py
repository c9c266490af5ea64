# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the deploy components (JupyterServer, CodeServer): the
objects every option gives, security, credentials precedence and validation.

Settings start from the roles' defaults files, so a default that changes or a
variable that is added is exercised here too."""

from __future__ import annotations

import base64
import hashlib
import json
import string

import pytest
import yaml

from ansible_collections.remotedev.jupyter.plugins.module_utils import _deploy_common as dc
from ansible_collections.remotedev.jupyter.plugins.module_utils._deploy_engine import component_for
from ansible_collections.remotedev.jupyter.plugins.module_utils._password import hash_password, verify_hash
from ansible_collections.remotedev.jupyter.tests.unit.plugins.module_utils.role_settings import role_defaults, settings_for


def jupyter(**overrides):
    return component_for("jupyter_server", settings_for("jupyter_server", **overrides))


def code_server(**overrides):
    overrides.setdefault("jupyter_url", "http://jupyter-demo.remotedev-jupyter.svc.cluster.local:8888/")
    overrides.setdefault("jupyter_secret_name", "jupyter-demo")
    return component_for("code_server", settings_for("code_server", **overrides))


TOKEN = "t0ken" * 10
KEY = {dc.CHECKSUM_KEY: "k" * 64}
JUPYTER_CREDS = {"token": TOKEN, "password_hash": "", "secret_data": {"token": TOKEN, "password-hash": ""},
                 "checksum": "c" * 64}
CODE_CREDS = {"password": "", "password_hash": "$argon2id$fake",
              "secret_data": {"hashed-password": "$argon2id$fake", "config.yaml": "hashed-password: $argon2id$fake\n"},
              "checksum": "d" * 64}


def objects_of(component, creds=None):
    if creds is None:
        creds = JUPYTER_CREDS if component.prefix == "jupyter_server" else CODE_CREDS
    return component.objects(creds)


def by_kind(objects):
    found = {}
    for obj in objects:
        assert obj["kind"] not in found, "two %s objects" % obj["kind"]
        found[obj["kind"]] = obj
    return found


def pod_spec(component, creds=None):
    return by_kind(objects_of(component, creds))["Deployment"]["spec"]["template"]["spec"]


def main_container(component, creds=None):
    return pod_spec(component, creds)["containers"][0]


def env_dict(container):
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def secret_values(obj):
    return {k: base64.b64decode(v).decode("utf-8") for k, v in obj["data"].items()}


# ---------------------------------------------------------------- the defaults helper itself


def test_defaults_resolved():
    s = settings_for("jupyter_server")
    assert s["instance"] == "demo" and s["name"] == "jupyter-demo"
    assert s["root_dir"] == "/home/jovyan/work"
    assert "/home/jovyan/.cache" in s["scratch_dirs"]
    c = settings_for("code_server")
    assert (c["name"], c["jupyter_name"]) == ("code-server-demo", "jupyter-demo")


def test_defaults_validate():
    jupyter().validate()
    code_server().validate()


# ---------------------------------------------------------------- manifests: Jupyter Server


def test_jupyter_default_objects_in_apply_order():
    objects = objects_of(jupyter())
    assert [o["kind"] for o in objects] == ["Namespace", "Secret", "ConfigMap", "PersistentVolumeClaim",
                                            "NetworkPolicy", "Service", "Deployment"]
    for obj in objects[1:]:
        assert obj["metadata"]["name"] == "jupyter-demo"
        assert obj["metadata"]["namespace"] == "remotedev-jupyter"
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "remotedev.jupyter"
        assert obj["metadata"]["labels"]["app.kubernetes.io/instance"] == "demo"
    namespace = objects[0]
    assert namespace["metadata"]["name"] == "remotedev-jupyter"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("overrides,present,absent", [
    ({"namespace_create": False}, [], ["Namespace"]),
    ({"network_policy_enabled": False}, [], ["NetworkPolicy"]),
    ({"ingress_enabled": True, "ingress_hosts": ["jupyter.example"]}, ["Ingress"], ["Route"]),
    ({"route_enabled": True, "route_host": "jupyter.apps.example"}, ["Route"], ["Ingress"]),
    ({}, ["Namespace", "NetworkPolicy"], ["Ingress", "Route"]),
])
def test_jupyter_optional_objects(overrides, present, absent):
    kinds = [o["kind"] for o in objects_of(jupyter(**overrides))]
    for kind in present:
        assert kind in kinds
    for kind in absent:
        assert kind not in kinds
    assert {"Secret", "ConfigMap", "PersistentVolumeClaim", "Service", "Deployment"} <= set(kinds)


def test_jupyter_optional_kinds_follow_settings():
    component = jupyter(ingress_enabled=True, ingress_hosts=["a.example"], network_policy_enabled=False)
    assert component.optional_kinds() == [
        ("route.openshift.io/v1", "Route", False),
        ("networking.k8s.io/v1", "Ingress", True),
        ("networking.k8s.io/v1", "NetworkPolicy", False),
    ]
    removable = component.removable()
    assert ("v1", "PersistentVolumeClaim") not in removable
    assert ("v1", "Namespace") not in removable
    assert removable[-1] == ("v1", "Secret")


def test_jupyter_namespace_labels_and_no_pod_security():
    ns = objects_of(jupyter(namespace_labels={"team": "ml"}, pod_security_level=""))[0]
    assert ns["metadata"]["labels"] == {"team": "ml"}


def test_jupyter_ingress_object():
    component = jupyter(ingress_enabled=True, ingress_hosts=["jupyter.example", "alt.example"],
                        ingress_tls_secret="jupyter-tls", ingress_class_name="nginx",
                        ingress_annotations={"nginx.ingress.kubernetes.io/proxy-body-size": "0"}, base_url="team")
    ing = by_kind(objects_of(component))["Ingress"]
    assert ing["spec"]["ingressClassName"] == "nginx"
    assert ing["spec"]["tls"] == [{"hosts": ["jupyter.example", "alt.example"], "secretName": "jupyter-tls"}]
    assert [r["http"]["paths"][0]["path"] for r in ing["spec"]["rules"]] == ["/team/", "/team/"]
    # The nginx class's websocket timeouts (role defaults), then the explicit annotations.
    assert ing["metadata"]["annotations"] == {"nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
                                              "nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
                                              "nginx.ingress.kubernetes.io/proxy-body-size": "0"}
    assert component.external_url == "https://jupyter.example/team/"
    assert component.connection(JUPYTER_CREDS)["external_url"] == "https://jupyter.example/team/"


def test_jupyter_route_object():
    component = jupyter(route_enabled=True, route_host="jupyter.apps.example", base_url="/x/")
    route = by_kind(objects_of(component))["Route"]
    assert route["spec"] == {
        "host": "jupyter.apps.example", "path": "/x/",
        "to": {"kind": "Service", "name": "jupyter-demo", "weight": 100},
        "port": {"targetPort": "http"},
        "tls": {"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect"},
    }
    assert component.external_url == "https://jupyter.apps.example/x/"
    route = by_kind(objects_of(jupyter(route_enabled=True, route_host="j.example", route_tls_termination="")))["Route"]
    assert "tls" not in route["spec"]


def test_jupyter_network_policy_admits_its_clients():
    np = by_kind(objects_of(jupyter()))["NetworkPolicy"]
    peers = np["spec"]["ingress"][0]["from"]
    assert {"podSelector": {"matchLabels": {dc.CLIENT_LABEL: "jupyter-demo"}}} in peers
    assert peers[0] == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    assert np["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "jupyter-server",
                                                        "app.kubernetes.io/instance": "demo"}


def test_jupyter_network_policy_limits_egress_to_dns_and_the_internet_but_cluster_ranges():
    np = by_kind(objects_of(jupyter()))["NetworkPolicy"]
    assert np["spec"]["policyTypes"] == ["Ingress", "Egress"]
    dns, internet = np["spec"]["egress"]
    assert dns["ports"] == [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
    assert dns["to"] == role_defaults("jupyter_server")["jupyter_server_network_policy_dns_to"]
    assert "169.254.0.0/16" in internet["to"][0]["ipBlock"]["except"]
    assert "Egress" not in by_kind(objects_of(jupyter(network_policy_egress_enabled=False)))["NetworkPolicy"]["spec"][
        "policyTypes"]
    assert len(by_kind(objects_of(jupyter(network_policy_egress_internet=False)))["NetworkPolicy"]["spec"]["egress"]) == 1


def test_code_server_egress_reaches_its_jupyter_servers_pods():
    np = by_kind(objects_of(code_server()))["NetworkPolicy"]
    to_server = np["spec"]["egress"][1]
    assert to_server["ports"] == [{"port": "http", "protocol": "TCP"}]
    server_pod_labels = by_kind(objects_of(jupyter()))["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert set(to_server["to"][0]["podSelector"]["matchLabels"].items()) <= set(server_pod_labels.items())
    alone = by_kind(objects_of(code_server(jupyter_name="")))["NetworkPolicy"]["spec"]["egress"]
    assert not any(rule.get("ports") == to_server["ports"] for rule in alone)


def test_jupyter_service_carries_the_client_contract():
    service = by_kind(objects_of(jupyter(base_url="/t/", service_port=80, cluster_domain="k8s.internal")))["Service"]
    assert dc.read_server_service_annotations(service) == (
        "http://jupyter-demo.remotedev-jupyter.svc.k8s.internal:80/t/", "jupyter-demo", "token")
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]


@pytest.mark.parametrize("base_url,path", [("/", "/"), ("team", "/team/"), ("/a/b", "/a/b/")])
def test_jupyter_base_url_gives_probe_paths_ingress_path_and_config(base_url, path):
    component = jupyter(base_url=base_url, ingress_enabled=True, ingress_hosts=["j.example"])
    objects = by_kind(objects_of(component))
    container = objects["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": path + "api", "port": "http"}
    assert objects["Ingress"]["spec"]["rules"][0]["http"]["paths"][0]["path"] == path
    assert "c.ServerApp.base_url = %r" % path in objects["ConfigMap"]["data"]["jupyter_server_config.py"]


def test_jupyter_container_basics():
    container = main_container(jupyter(port=9999, command=["jupyter", "lab"], args=["--debug"],
                                       env=[{"name": "EXTRA", "value": "1"}], startup_timeout=120))
    assert container["name"] == "jupyter-server"
    assert container["image"] == "registry.example/jupyter-server:1.0"
    assert container["command"] == ["jupyter", "lab"] and container["args"] == ["--debug"]
    assert container["ports"] == [{"name": "http", "containerPort": 9999, "protocol": "TCP"}]
    env = env_dict(container)
    assert env["EXTRA"] == "1"
    assert env["JUPYTER_TOKEN_FILE"] == "/etc/jupyter-secret/token"
    assert env["JUPYTER_CONFIG_PATH"] == "/etc/jupyter-secret:/etc/jupyter"
    assert "JUPYTER_TOKEN" not in env
    assert container["startupProbe"]["failureThreshold"] == 24
    default = main_container(jupyter())
    assert "command" not in default and "args" not in default


def test_jupyter_token_never_in_pod_spec_or_config():
    objects = by_kind(objects_of(jupyter()))
    for kind in ("Deployment", "ConfigMap", "Service", "NetworkPolicy", "PersistentVolumeClaim", "Namespace"):
        assert TOKEN not in json.dumps(objects[kind])
    assert secret_values(objects["Secret"])["token"] == TOKEN


def test_jupyter_gpu_limit():
    assert "nvidia.com/gpu" not in json.dumps(main_container(jupyter())["resources"])
    resources = main_container(jupyter(gpu_count=2))["resources"]
    assert resources == {"requests": {"cpu": "250m", "memory": "512Mi"},
                         "limits": {"cpu": "4", "memory": "4Gi", "nvidia.com/gpu": 2}}
    resources = main_container(jupyter(gpu_count=1, gpu_resource="amd.com/gpu"))["resources"]
    assert resources["limits"]["amd.com/gpu"] == 1
    # The role's resources setting is not modified by the merge.
    assert "nvidia.com/gpu" not in role_defaults("jupyter_server")["jupyter_server_resources"]["limits"]


@pytest.mark.parametrize("access_mode,strategy", [
    ("ReadWriteMany", {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}),
    ("ReadWriteOnce", {"type": "Recreate"}),
    ("ReadWriteOncePod", {"type": "Recreate"}),
])
def test_jupyter_strategy_follows_access_mode(access_mode, strategy):
    objects = by_kind(objects_of(jupyter(storage_access_mode=access_mode, storage_class="fast", storage_size="3Gi")))
    assert objects["Deployment"]["spec"]["strategy"] == strategy
    assert objects["PersistentVolumeClaim"]["spec"] == {
        "accessModes": [access_mode], "storageClassName": "fast", "resources": {"requests": {"storage": "3Gi"}}}


def test_jupyter_scratch_volumes_with_read_only_root():
    spec = pod_spec(jupyter(scratch_size_limit="1Gi"))
    scratch = [v for v in spec["volumes"] if v["name"].startswith("scratch-")]
    mounts = {m["name"]: m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
    assert len(scratch) == 5
    assert all(v["emptyDir"] == {"sizeLimit": "1Gi"} for v in scratch)
    assert sorted(mounts[v["name"]] for v in scratch) == sorted(settings_for("jupyter_server")["scratch_dirs"])
    assert spec["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True


def test_jupyter_no_scratch_volumes_without_read_only_root():
    spec = pod_spec(jupyter(read_only_root_filesystem=False))
    assert [v["name"] for v in spec["volumes"]] == ["notebooks", "config", "secret"]
    assert [m["name"] for m in spec["containers"][0]["volumeMounts"]] == ["notebooks", "config", "secret"]
    assert spec["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is False


def test_jupyter_volumes():
    spec = pod_spec(jupyter())
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["notebooks"]["persistentVolumeClaim"] == {"claimName": "jupyter-demo"}
    assert volumes["secret"]["secret"]["secretName"] == "jupyter-demo"
    assert volumes["secret"]["secret"]["defaultMode"] == 0o440
    # The password hash is read through the JSON config, never mounted on its own.
    assert [i["key"] for i in volumes["secret"]["secret"]["items"]] == ["token", "jupyter_server_config.json"]
    assert volumes["config"]["configMap"]["name"] == "jupyter-demo"


SCHEDULING = {
    "image_pull_secrets": (["regcred"], "imagePullSecrets", [{"name": "regcred"}]),
    "node_selector": ({"disk": "ssd"}, "nodeSelector", {"disk": "ssd"}),
    "tolerations": ([{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}], "tolerations",
                    [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]),
    "affinity": ({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}},
                 "affinity",
                 {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}}),
    "priority_class_name": ("high", "priorityClassName", "high"),
}


@pytest.mark.parametrize("variable", sorted(SCHEDULING))
def test_jupyter_scheduling_fields_only_when_set(variable):
    value, field, expected = SCHEDULING[variable]
    assert field not in pod_spec(jupyter())
    spec = pod_spec(jupyter(**{variable: value}))
    assert spec[field] == expected
    others = [f for _v, f, _e in SCHEDULING.values() if f != field]
    assert not any(f in spec for f in others)


def test_jupyter_pod_security():
    spec = pod_spec(jupyter(uid=1234, gid=4321))
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 1234
    assert spec["securityContext"]["runAsGroup"] == 4321
    assert spec["securityContext"]["fsGroup"] == 4321
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    ctx = spec["containers"][0]["securityContext"]
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["runAsNonRoot"] is True
    assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["terminationGracePeriodSeconds"] == 30


def test_jupyter_config_map_content():
    creds = dict(JUPYTER_CREDS, password_hash="argon2:$argon2id$v=19$m=10240,t=10,p=8$c2FsdA$aGFzaA",
                 secret_data={"token": TOKEN, "password-hash": "argon2:$argon2id$v=19$m=10240,t=10,p=8$c2FsdA$aGFzaA"})
    component = jupyter(cull_idle_timeout=600, terminals_enabled=False, root_dir="/data",
                        settings={"LabApp": {"collaborative": False}, "ServerApp": {"iopub_data_rate_limit": 1e10}},
                        settings_extra_classes=["LabApp"])
    config = by_kind(component.objects(creds))["ConfigMap"]["data"]["jupyter_server_config.py"]
    assert "c.MappingKernelManager.cull_idle_timeout = 600" in config
    assert "c.KernelManager.transport = 'ipc'" in config
    assert "c.KernelManager.transport = 'tcp'" in by_kind(jupyter(kernel_transport="tcp").objects(creds))["ConfigMap"]["data"]["jupyter_server_config.py"]
    assert "c.ServerApp.terminals_enabled = False" in config
    assert "c.ServerApp.root_dir = '/data'" in config
    assert "c.ServerApp.port = 8888" in config
    assert "c.PasswordIdentityProvider.allow_password_change = False" in config
    assert "c.LabApp.collaborative = False" in config
    assert "iopub_data_rate_limit" in config
    assert TOKEN not in config
    assert "argon2" not in config and "hashed_password" not in config
    assert "token" not in config.lower().replace("jupyter_token_file", "")


@pytest.mark.parametrize(("overrides", "expected"), [
    ({}, 10000),
    ({"websocket_ping_interval": 45}, 45000),
    ({"websocket_ping_interval": 0}, 0),
    # jupyter_server_settings still wins, and keeps the role's value out only where it says so
    ({"settings": {"ServerApp": {"tornado_settings": {"ws_ping_interval": 5000}}}}, 5000),
], ids=["default", "seconds-to-ms", "off", "settings-win"])
def test_jupyter_websocket_ping_interval(overrides, expected):
    config = jupyter(**overrides).config
    assert "c.ServerApp.tornado_settings = {'ws_ping_interval': %d}" % expected in config


def test_code_server_ingress_gets_its_class_defaults():
    ing = by_kind(objects_of(code_server(ingress_enabled=True, ingress_hosts=["code.example"], ingress_class_name="alb")))["Ingress"]
    assert ing["metadata"]["annotations"] == {"alb.ingress.kubernetes.io/load-balancer-attributes": "idle_timeout.timeout_seconds=3600"}


def test_jupyter_user_labels_do_not_override_ours():
    objects = objects_of(jupyter(labels={"team": "ml", "app.kubernetes.io/name": "other"}))
    deployment = by_kind(objects)["Deployment"]
    for labels in (deployment["metadata"]["labels"], deployment["spec"]["template"]["metadata"]["labels"]):
        assert labels["team"] == "ml"
        assert labels["app.kubernetes.io/name"] == "jupyter-server"
    assert deployment["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "jupyter-server",
                                                             "app.kubernetes.io/instance": "demo"}


def test_jupyter_digest_label_is_the_template_digest():
    deployment = by_kind(objects_of(jupyter()))["Deployment"]
    template = json.loads(json.dumps(deployment["spec"]["template"]))
    digest = template["metadata"]["labels"].pop(dc.TEMPLATE_LABEL)
    assert digest == dc.template_digest(template)


# ---------------------------------------------------------------- manifests: code-server


def test_code_server_default_objects():
    objects = objects_of(code_server())
    assert [o["kind"] for o in objects] == ["Secret", "PersistentVolumeClaim", "NetworkPolicy", "Service", "Deployment"]
    assert all(o["metadata"]["name"] == "code-server-demo" for o in objects)
    kinds = [o["kind"] for o in objects_of(code_server(network_policy_enabled=False, ingress_enabled=True,
                                                       ingress_hosts=["code.example"]))]
    assert "NetworkPolicy" not in kinds and "Ingress" in kinds


def test_code_server_ingress_and_network_policy():
    component = code_server(ingress_enabled=True, ingress_hosts=["code.example"], ingress_tls_secret="code-tls",
                            ingress_class_name="traefik", network_policy_ingress_pod_labels={"app": "traefik"})
    objects = by_kind(objects_of(component))
    assert objects["Ingress"]["spec"]["ingressClassName"] == "traefik"
    assert objects["Ingress"]["spec"]["rules"][0]["http"]["paths"][0]["path"] == "/"
    peers = objects["NetworkPolicy"]["spec"]["ingress"][0]["from"]
    # code-server has no clients of its own: only the ingress controller (and extra peers).
    assert peers == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
                      "podSelector": {"matchLabels": {"app": "traefik"}}}]
    assert component.external_url == "https://code.example/"


def test_code_server_connected_env_and_client_label():
    component = code_server(jupyter_url="http://j.ns.svc.cluster.local:8888/x/", jupyter_secret_name="jsecret",
                            jupyter_token_key="tok")
    deployment = by_kind(objects_of(component))["Deployment"]
    spec = deployment["spec"]["template"]["spec"]
    env = env_dict(spec["containers"][0])
    # No secret in the environment: the URL, and where the token file is.
    assert env == {"CODE_SERVER_CONFIG": "/etc/code-server/config.yaml",
                   "JUPYTER_SERVER_URL": "http://j.ns.svc.cluster.local:8888/x/",
                   "JUPYTER_TOKEN_FILE": "/etc/jupyter-server/token"}
    assert not any("valueFrom" in e or "envFrom" in c for c in spec["containers"] for e in c["env"])
    volumes = {v["name"]: v for v in spec["volumes"]}
    # Only the token key of the Jupyter Server's Secret, readable by the pod's group only.
    assert volumes["jupyter-token"]["secret"] == {"secretName": "jsecret", "defaultMode": 0o440,
                                                  "items": [{"key": "tok", "path": "token"}]}
    assert volumes["config"]["secret"] == {"secretName": "code-server-demo", "defaultMode": 0o440,
                                           "items": [{"key": "config.yaml", "path": "config.yaml"}]}
    mounts = {m["name"]: m for m in spec["containers"][0]["volumeMounts"]}
    assert mounts["jupyter-token"] == {"name": "jupyter-token", "mountPath": "/etc/jupyter-server", "readOnly": True}
    assert mounts["config"] == {"name": "config", "mountPath": "/etc/code-server", "readOnly": True}
    template_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert template_labels[dc.CLIENT_LABEL] == "jupyter-demo"
    assert dc.CLIENT_LABEL not in deployment["metadata"]["labels"]
    assert dc.CLIENT_LABEL not in deployment["spec"]["selector"]["matchLabels"]
    # The label the Jupyter Server's NetworkPolicy admits.
    server_np = by_kind(objects_of(jupyter()))["NetworkPolicy"]
    client_peer = server_np["spec"]["ingress"][0]["from"][1]["podSelector"]["matchLabels"]
    assert set(client_peer.items()) <= set(template_labels.items())
    assert component.connection(CODE_CREDS)["jupyter_url"] == "http://j.ns.svc.cluster.local:8888/x/"


def test_code_server_connection_from_preflight_facts():
    component = code_server(jupyter_url="", jupyter_secret_name="")
    component.facts["jupyter"] = {"url": "http://found/", "secret_name": "found-secret", "token_key": "token"}
    env = env_dict(main_container(component))
    assert env["JUPYTER_SERVER_URL"] == "http://found/"
    volumes = {v["name"]: v for v in pod_spec(component)["volumes"]}
    assert volumes["jupyter-token"]["secret"]["secretName"] == "found-secret"
    assert volumes["jupyter-token"]["secret"]["items"] == [{"key": "token", "path": "token"}]


def test_code_server_unconnected():
    component = code_server(jupyter_name="", jupyter_url="", jupyter_secret_name="")
    deployment = by_kind(objects_of(component))["Deployment"]
    env = env_dict(deployment["spec"]["template"]["spec"]["containers"][0])
    assert set(env) == {"CODE_SERVER_CONFIG"}
    assert [v["name"] for v in deployment["spec"]["template"]["spec"]["volumes"]] == ["home", "config", "tmp"]
    assert dc.CLIENT_LABEL not in deployment["spec"]["template"]["metadata"]["labels"]
    assert component.connection(CODE_CREDS)["jupyter_url"] == ""
    assert any("Not connected to a Jupyter Server (code_server_jupyter_name is empty)" in line
               for line in component.summary(CODE_CREDS))


def test_code_server_extensions_init_container():
    component = code_server(extensions=["ms-python.python", "ms-toolsai.jupyter"],
                            extensions_gallery={"serviceUrl": "https://open-vsx.org/vscode/gallery"})
    spec = pod_spec(component)
    init, = spec["initContainers"]
    assert init["name"] == "install-extensions"
    assert init["image"] == "registry.example/code-server:1.0"
    assert init["command"] == ["code-server", "--extensions-dir", "/home/coder/.local/share/code-server/extensions",
                               "--install-extension", "ms-python.python", "--install-extension", "ms-toolsai.jupyter"]
    env = env_dict(init)
    assert json.loads(env["EXTENSIONS_GALLERY"]) == {"serviceUrl": "https://open-vsx.org/vscode/gallery"}
    assert init["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    # Everything the server mounts but the Jupyter token, which installing extensions does not need.
    assert init["volumeMounts"] == [m for m in spec["containers"][0]["volumeMounts"] if m["name"] != "jupyter-token"]
    assert "initContainers" not in pod_spec(code_server())
    no_gallery = pod_spec(code_server(extensions=["a.b"]))["initContainers"][0]
    assert "EXTENSIONS_GALLERY" not in env_dict(no_gallery)


@pytest.mark.parametrize("make", [jupyter, code_server], ids=["jupyter_server", "code_server"])
def test_checkov_skip_of_the_low_uid_only_where_it_applies(make):
    low = by_kind(objects_of(make()))["Deployment"]["metadata"]
    assert low["annotations"]["checkov.io/skip1"].startswith("CKV_K8S_40=uid 1000 is the image's user")
    high = by_kind(objects_of(make(uid=10001)))["Deployment"]["metadata"]
    assert "annotations" not in high


def test_code_server_pod():
    spec = pod_spec(code_server(uid=2000, gid=3000, read_only_root_filesystem=False, storage_access_mode="ReadWriteMany",
                                node_selector={"a": "b"}, image_pull_secrets=["reg"]))
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsUser"] == 2000 and spec["securityContext"]["fsGroup"] == 3000
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is False
    assert spec["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert spec["nodeSelector"] == {"a": "b"} and spec["imagePullSecrets"] == [{"name": "reg"}]
    assert "tolerations" not in spec and "affinity" not in spec and "priorityClassName" not in spec
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert spec["containers"][0][probe]["httpGet"]["path"] == "/healthz"
    deployment = by_kind(objects_of(code_server(storage_access_mode="ReadWriteMany")))["Deployment"]
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_code_server_config_file_is_in_the_secret_with_the_hash_only():
    component = code_server(port=9000)
    creds = component.credentials({"password": "Generated123", **KEY})
    objects = by_kind(component.objects(creds))
    assert "ConfigMap" not in objects
    config = yaml.safe_load(secret_values(objects["Secret"])["config.yaml"])
    assert config["bind-addr"] == "0.0.0.0:9000"
    assert config["auth"] == "password"
    assert config["hashed-password"] == creds["password_hash"]
    assert "password" not in config
    for kind in ("Deployment", "Service", "PersistentVolumeClaim"):
        assert "Generated123" not in json.dumps(objects[kind])
        assert "$argon2id$" not in json.dumps(objects[kind])
    # An upgrade removes the ConfigMap earlier versions kept the config in.
    assert ("v1", "ConfigMap", False) in component.optional_kinds()


# ---------------------------------------------------------------- credentials: Jupyter Server


def test_jupyter_explicit_token_wins():
    creds = jupyter(token="explicit-token-0123456789012345678901234567").credentials({"token": "existing"})
    assert creds["token"] == "explicit-token-0123456789012345678901234567"
    assert creds["secret_data"]["token"] == creds["token"]
    creds = jupyter(token="explicit", regenerate_token=True).credentials({"token": "existing"})
    assert creds["token"] == "explicit"


def test_jupyter_existing_token_kept():
    assert jupyter().credentials({"token": "existing-token"})["token"] == "existing-token"


def test_jupyter_regenerate_token():
    creds = jupyter(regenerate_token=True, token_length=40).credentials({"token": "existing-token"})
    assert creds["token"] != "existing-token"
    assert len(creds["token"]) == 40


@pytest.mark.parametrize("length", [32, 48, 100])
def test_jupyter_generated_token(length):
    first = jupyter(token_length=length).credentials({})
    second = jupyter(token_length=length).credentials({})
    for creds in (first, second):
        assert len(creds["token"]) == length
        assert set(creds["token"]) <= set(string.ascii_lowercase + string.digits)
    assert first["token"] != second["token"]


def test_jupyter_no_password_means_token_only():
    creds = jupyter().credentials({})
    assert creds["password_hash"] == ""
    assert creds["secret_data"]["password-hash"] == ""
    assert json.loads(creds["secret_data"]["jupyter_server_config.json"]) == {
        "PasswordIdentityProvider": {"hashed_password": ""}}
    component = jupyter()
    assert component.connection(creds)["password_login"] is False
    assert "Browser login: token (no password set)" in component.summary(creds)


@pytest.fixture(scope="module")
def jupyter_hash():
    """An existing Jupyter argon2 hash of 'old password' (made once: argon2 is slow on purpose)."""
    return hash_password("old password", "jupyter", "argon2")[0]


def test_jupyter_password_hash_kept_while_it_matches(jupyter_hash):
    creds = jupyter(password="old password").credentials({"token": "t", "password-hash": jupyter_hash})
    assert creds["password_hash"] == jupyter_hash
    assert json.loads(creds["secret_data"]["jupyter_server_config.json"]) == {
        "PasswordIdentityProvider": {"hashed_password": jupyter_hash}}
    assert jupyter(password="old password").connection(creds)["password_login"] is True


def test_jupyter_password_hash_replaced_when_password_changes(jupyter_hash):
    creds = jupyter(password="new password").credentials({"token": "t", "password-hash": jupyter_hash})
    assert creds["password_hash"] != jupyter_hash
    assert creds["password_hash"].startswith("argon2:$argon2id$")
    assert verify_hash(creds["password_hash"], "new password", "jupyter", "argon2")
    assert "new password" not in json.dumps(creds["secret_data"])


def test_jupyter_password_sha1_algorithm():
    creds = jupyter(password="pw", password_algorithm="sha1").credentials({})
    assert creds["password_hash"].startswith("sha1:")
    assert verify_hash(creds["password_hash"], "pw", "jupyter", "sha1")


def test_jupyter_explicit_password_hash(jupyter_hash):
    creds = jupyter(password_hash="sha1:0e112c3ddfce:a68df677475c2b47b6e86d0467eec97ac5f4b85a").credentials(
        {"password-hash": jupyter_hash})
    assert creds["password_hash"] == "sha1:0e112c3ddfce:a68df677475c2b47b6e86d0467eec97ac5f4b85a"
    assert creds["secret_data"]["password-hash"] == creds["password_hash"]


def test_jupyter_existing_hash_kept_when_nothing_given(jupyter_hash):
    creds = jupyter().credentials({"token": "t", "password-hash": jupyter_hash})
    assert creds["password_hash"] == jupyter_hash
    assert creds["token"] == "t"


def test_jupyter_checksum_changes_iff_a_secret_changes():
    base = jupyter().credentials({"token": "tok", "password-hash": "sha1:a:b", **KEY})
    same = jupyter().credentials({"token": "tok", "password-hash": "sha1:a:b", **KEY})
    other_token = jupyter().credentials({"token": "tok2", "password-hash": "sha1:a:b", **KEY})
    other_hash = jupyter().credentials({"token": "tok", "password-hash": "sha1:a:c", **KEY})
    assert base["checksum"] == same["checksum"]
    assert len({base["checksum"], other_token["checksum"], other_hash["checksum"]}) == 3
    # Settings that are not secrets do not change it.
    assert jupyter(port=9000, base_url="/x/").credentials(
        {"token": "tok", "password-hash": "sha1:a:b", **KEY})["checksum"] == base["checksum"]


def test_jupyter_checksum_is_keyed_and_the_key_is_kept():
    """The annotation is readable by whoever may read pods: without the key (in
    the Secret) it tells nothing about the token."""
    existing = {"token": "abc", "password-hash": ""}
    first = jupyter().credentials(existing)
    key = first["secret_data"][dc.CHECKSUM_KEY]
    assert len(key) == 64
    # Generated once, then kept: the same inputs give the same annotation.
    again = jupyter().credentials(dict(existing, **{dc.CHECKSUM_KEY: key}))
    assert again["checksum"] == first["checksum"] and again["secret_data"][dc.CHECKSUM_KEY] == key
    other_key = jupyter().credentials(dict(existing, **{dc.CHECKSUM_KEY: "other" * 8}))
    assert other_key["checksum"] != first["checksum"]
    unsalted = {hashlib.sha256(text.encode()).hexdigest()
                for text in ("abc", json.dumps(["abc", "", first["secret_data"]["jupyter_server_config.json"]]))}
    assert first["checksum"] not in unsalted
    # The key is not mounted into the pod: only the token and the config are.
    volumes = {v["name"]: v for v in pod_spec(jupyter(), first)["volumes"]}
    assert dc.CHECKSUM_KEY not in [item["key"] for item in volumes["secret"]["secret"]["items"]]


def test_jupyter_secret_change_rolls_the_pod_config_change_does_not_touch_secret_checksum():
    def template(component, creds):
        return by_kind(component.objects(creds))["Deployment"]["spec"]["template"]

    existing = {"token": "tok", "password-hash": "", **KEY}
    base = template(jupyter(), jupyter().credentials(existing))
    again = template(jupyter(), jupyter().credentials(existing))
    rotated = template(jupyter(), jupyter().credentials({"token": "rotated", "password-hash": "", **KEY}))
    reconfigured = template(jupyter(cull_interval=60), jupyter(cull_interval=60).credentials(existing))
    annotations = base["metadata"]["annotations"]
    assert base == again
    assert rotated["metadata"]["annotations"][dc.SECRET_CHECKSUM_ANNOTATION] != annotations[dc.SECRET_CHECKSUM_ANNOTATION]
    assert rotated["metadata"]["annotations"][dc.CONFIG_CHECKSUM_ANNOTATION] == annotations[dc.CONFIG_CHECKSUM_ANNOTATION]
    assert rotated["metadata"]["labels"][dc.TEMPLATE_LABEL] != base["metadata"]["labels"][dc.TEMPLATE_LABEL]
    assert reconfigured["metadata"]["annotations"][dc.SECRET_CHECKSUM_ANNOTATION] == \
        annotations[dc.SECRET_CHECKSUM_ANNOTATION]
    assert reconfigured["metadata"]["annotations"][dc.CONFIG_CHECKSUM_ANNOTATION] != \
        annotations[dc.CONFIG_CHECKSUM_ANNOTATION]


def test_jupyter_summary_shows_token_only_when_asked():
    creds = dict(JUPYTER_CREDS)
    assert not any(TOKEN in line for line in jupyter().summary(creds))
    assert "Token: " + TOKEN in jupyter(show_token=True).summary(creds)


# ---------------------------------------------------------------- credentials: code-server


@pytest.fixture(scope="module")
def code_hash():
    """An existing code-server argon2 hash of 'Existing pass' (made once)."""
    return hash_password("Existing pass", "code_server", "argon2")[0]


def test_code_server_explicit_password_never_stored_in_clear(code_hash):
    component = code_server(password="Explicit pass 1")
    creds = component.credentials({"hashed-password": code_hash, "password": "Existing pass"})
    assert set(creds["secret_data"]) == {"hashed-password", "config.yaml", dc.CHECKSUM_KEY}
    assert creds["secret_data"]["hashed-password"] == creds["password_hash"]
    assert creds["password"] == ""
    assert verify_hash(creds["password_hash"], "Explicit pass 1", "code_server", "argon2")
    secret = by_kind(component.objects(creds))["Secret"]
    assert "Explicit pass 1" not in json.dumps(secret_values(secret))
    assert "Password: the one you set (code_server_password)" in component.summary(creds)


def test_code_server_explicit_password_keeps_matching_hash(code_hash):
    creds = code_server(password="Existing pass").credentials({"hashed-password": code_hash})
    assert creds["password_hash"] == code_hash


def test_code_server_generated_password_stored_and_kept():
    first = code_server(password_length=16).credentials({})
    assert len(first["password"]) == 16
    assert set(first["password"]) <= set(string.ascii_letters + string.digits)
    assert first["secret_data"]["password"] == first["password"]
    assert verify_hash(first["password_hash"], first["password"], "code_server", "argon2")
    second = code_server(password_length=16).credentials(dict(first["secret_data"]))
    assert second["password"] == first["password"]
    assert second["password_hash"] == first["password_hash"]
    assert second["checksum"] == first["checksum"]
    assert second["secret_data"] == first["secret_data"]
    component = code_server()
    assert not any(first["password"] in line for line in component.summary(first))
    assert "Password: " + first["password"] in code_server(show_password=True).summary(first)


def test_code_server_explicit_hash(code_hash):
    creds = code_server(password_hash="$argon2id$explicit").credentials({"hashed-password": code_hash,
                                                                         "password": "Existing pass", **KEY})
    assert creds["password_hash"] == "$argon2id$explicit"
    assert creds["secret_data"]["hashed-password"] == "$argon2id$explicit"
    assert "password" not in creds["secret_data"]
    assert creds["password"] == ""
    assert creds["checksum"] != code_server().credentials({"hashed-password": code_hash, **KEY})["checksum"]


def test_code_server_foreign_hash_kept(code_hash):
    creds = code_server().credentials({"hashed-password": code_hash})
    assert creds["password_hash"] == code_hash
    assert creds["secret_data"]["hashed-password"] == code_hash and "password" not in creds["secret_data"]
    assert creds["password"] == ""


# ---------------------------------------------------------------- validation


def problems_of(component):
    with pytest.raises(dc.InvalidSettings) as info:
        component.validate()
    message = str(info.value)
    assert message.endswith(" Nothing was changed.")
    return message


@pytest.mark.parametrize("overrides,fragment", [
    ({"port": 70000}, "jupyter_server_port=70000 is out of range: it must be 1-65535."),
    ({"service_port": 0}, "jupyter_server_service_port=0 is out of range"),
    ({"replicas": 2}, "jupyter_server_replicas=2 is out of range: it must be 0-1 (kernels live in one process)."),
    ({"uid": 0}, "jupyter_server_uid=0 is out of range: it must be 1-2147483647 (never root)."),
    ({"token_length": 8}, "jupyter_server_token_length=8 is out of range"),
    ({"gpu_count": 65}, "jupyter_server_gpu_count=65"),
    ({"namespace": "Bad_Namespace"}, "Invalid name: namespace \"Bad_Namespace\""),
    ({"name": "9jupyter"}, "Invalid name: jupyter_server_name \"9jupyter\""),
    ({"settings": {"ServerApp": {"token": "x"}}}, "jupyter_server_settings sets ServerApp.token: secrets do not belong in plain settings"),
    ({"settings": {"ServerApp": {"port": 1, "ip": "x"}}}, "jupyter_server_settings.ServerApp sets ip, port"),
    ({"settings": {"IdentityProvider": {"token": "x"}}}, "jupyter_server_settings sets IdentityProvider.token: secrets"),
    ({"settings": {"PasswordIdentityProvider": {"hashed_password": "x"}}},
     "jupyter_server_settings sets PasswordIdentityProvider.hashed_password: secrets"),
    ({"settings": {"ServerApp": {"no_such_trait_here": 1}}}, "jupyter_server_settings: "),
    ({"ingress_enabled": True, "ingress_hosts": []}, "jupyter_server_ingress_enabled needs jupyter_server_ingress_hosts"),
    ({"route_enabled": True, "route_host": ""}, "jupyter_server_route_enabled needs jupyter_server_route_host"),
    ({"env": [{"value": "x"}]}, "jupyter_server_env[0] has no name"),
    ({"render_only": True, "render_dest": ""}, "jupyter_server_render_only needs jupyter_server_render_dest"),
    ({"root_dir": "relative/dir", "scratch_dirs": ["/tmp", "cache"]},
     "jupyter_server_root_dir, jupyter_server_scratch_dirs[1] must be absolute paths: got \"relative/dir\", \"cache\""),
    ({"base_url": "/a?b"}, "jupyter_server_base_url must be a URL path"),
    ({"image": "bad image"}, "jupyter_server_image: \"bad image\" is not an image reference"),
    ({"token": "abc"}, "jupyter_server_token is 3 characters long: an explicit token must have at least 32"),
    ({"password": "a"}, "jupyter_server_password is 1 characters long: an explicit password must have at least 8"),
    ({"websocket_ping_interval": -1}, "jupyter_server_websocket_ping_interval=-1 is out of range: it must be 0-3600 seconds"),
    ({"ingress_class_annotations": {"nginx": {"nginx.ingress.kubernetes.io/proxy-read-timeout": 3600}}},
     "jupyter_server_ingress_class_annotations[nginx]: the value of"),
])
def test_jupyter_validation_names_the_variable(overrides, fragment):
    assert fragment in problems_of(jupyter(**overrides))


@pytest.mark.parametrize("overrides,fragment", [
    ({"port": 70000}, "code_server_port=70000 is out of range"),
    ({"namespace": "-bad"}, "Invalid name: namespace \"-bad\""),
    ({"jupyter_name": "Not_Valid"}, "code_server_jupyter_name \"Not_Valid\""),
    ({"password_length": 4}, "code_server_password_length=4"),
    ({"replicas": 3}, "(one home volume)"),
    ({"jupyter_url": "ftp://x/"}, "code_server_jupyter_url must be an http(s) URL ending in '/' (got \"ftp://x/\")"),
    ({"render_only": True, "render_dest": "/tmp/x.yaml", "jupyter_url": ""}, "With code_server_render_only"),
    ({"ingress_enabled": True}, "code_server_ingress_enabled needs code_server_ingress_hosts"),
    ({"env": [{"name": 3}]}, "code_server_env[0] has no name"),
    ({"password": "seven77"}, "code_server_password is 7 characters long: an explicit password must have at least 8"),
    ({"ingress_class_annotations": {"Nginx": {}}}, 'code_server_ingress_class_annotations["Nginx"]: "Nginx" is not a DNS subdomain'),
])
def test_code_server_validation_names_the_variable(overrides, fragment):
    assert fragment in problems_of(code_server(**overrides))


def test_several_problems_reported_together():
    message = problems_of(jupyter(port=70000, namespace="Bad", ingress_enabled=True, ingress_hosts=[],
                                  env=[{}], render_only=True, render_dest="", settings={"ServerApp": {"token": "x"}}))
    for fragment in ("jupyter_server_port=70000", "namespace \"Bad\"", "jupyter_server_ingress_hosts",
                     "jupyter_server_env[0]", "jupyter_server_render_dest", "sets ServerApp.token"):
        assert fragment in message
    assert message.count("Nothing was changed.") == 1


def test_explicit_credentials_at_the_minimum_length_pass_and_never_show_in_messages():
    jupyter(token="t" * 32, password="p" * 8).validate()
    code_server(password="p" * 8).validate()
    message = problems_of(jupyter(token="secret-tok", password="pass-7c", port=70000))
    assert "secret-tok" not in message and "pass-7c" not in message


def test_render_only_needs_an_image():
    assert "jupyter_server_image is empty" in problems_of(jupyter(image="", render_only=True, render_dest="/tmp/x"))
    jupyter(image="").validate()  # without render_only the running image may be kept


def test_absent_skips_config_validation():
    jupyter(state="absent", settings={"ServerApp": {"no_such_trait_here": 1}}).validate()


# ---------------------------------------------------------------- settings that open doors


def test_xsrf_off_with_any_origin_refused_unless_acknowledged():
    open_door = {"allow_origin": "*", "settings": {"ServerApp": {"disable_check_xsrf": True}}}
    assert "jupyter_server_insecure_cors_acknowledged" in problems_of(jupyter(**open_door))
    component = jupyter(insecure_cors_acknowledged=True, **open_door)
    component.validate()
    assert any("disable_check_xsrf is true" in w for w in component.warnings)
    assert any("allow_origin is '*'" in w for w in component.warnings)
    # Either alone is no open door; a safe configuration warns about nothing.
    jupyter(allow_origin="*").validate()
    jupyter(settings={"ServerApp": {"disable_check_xsrf": True}}).validate()
    safe = jupyter()
    safe.validate()
    assert safe.warnings == []


def test_secret_traits_refused_with_the_shared_list():
    from ansible_collections.remotedev.jupyter.plugins.module_utils._server_config import SECRET_TRAITS

    for name in sorted(SECRET_TRAITS):
        class_name, trait = name.split(".")
        message = problems_of(jupyter(settings={class_name: {trait: "x" * 40}}))
        assert "jupyter_server_settings sets %s: secrets do not belong in plain settings" % name in message
        assert "x" * 40 not in message


def test_extension_classes_still_allowed():
    component = jupyter(settings={"LabApp": {"collaborative": True}}, settings_extra_classes=["LabApp"])
    component.validate()
    assert "c.LabApp.collaborative = True" in component.config


def test_stored_hash_of_absurd_cost_is_replaced_not_verified():
    absurd = "$argon2id$v=19$m=4194304,t=1000,p=8$c2FsdHNhbHQ$aGFzaGhhc2g"
    creds = jupyter(password="new password").credentials({"token": "t", "password-hash": "argon2:" + absurd})
    assert verify_hash(creds["password_hash"], "new password")
    creds = code_server(password="new password").credentials({"hashed-password": absurd})
    assert verify_hash(creds["password_hash"], "new password", "code_server")


@pytest.mark.parametrize("make", [jupyter, code_server], ids=["jupyter_server", "code_server"])
def test_an_image_by_digest_is_deployed_as_given(make):
    """site.yml deploys repository:tag@sha256:... (the image role's image_built_pinned_ref)."""
    ref = "registry.example/remotedev/x:0123456789abcdef@sha256:" + "a" * 64
    component = make(image=ref)
    component.validate()
    assert main_container(component)["image"] == ref


def test_jupyter_status_lines_list_users_and_their_kernels():
    component = jupyter(users=[{"name": "ada", "role": "user"}, {"name": "bob", "role": "user"}])
    report = {
        "deployment": {"ready": 1, "replicas": 1, "image": "img"}, "pods": [],
        "version": "2.17.0", "kernelspecs": ["python3"], "default_kernel": "python3",
        "kernels": [{"id": "k1", "name": "python3", "execution_state": "busy", "connections": 1,
                     "last_activity": "2026-12-01T02:00:00Z", "remotedev_user": "ada"}],
        "users": [{"name": "ada", "last_activity": "2026-12-01T02:00:00Z",
                   "kernels": [{"id": "k1", "name": "python3", "execution_state": "busy", "connections": 1,
                                "last_activity": "2026-12-01T02:00:00Z"}]},
                  {"name": "bob", "last_activity": "", "kernels": []}],
    }
    lines = component.status_lines(report)
    assert "User ada: 1 kernel(s), last activity 2026-12-01T02:00:00Z: k1 python3 busy connections=1 " \
           "last_activity=2026-12-01T02:00:00Z" in lines
    assert "User bob: no running kernel" in lines
    assert not any(line.startswith("User") for line in component.status_lines(dict(report, users=[])))
