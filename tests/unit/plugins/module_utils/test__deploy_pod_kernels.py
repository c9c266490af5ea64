# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""jupyter_server_pod_kernels: kernelspecs, pod templates, least-privilege
RBAC, network policies and the server's pod, through the component (the one
path of deploy, check mode and render)."""

from __future__ import annotations

import json

import pytest

from ansible_collections.remotedev.jupyter.plugins.module_utils import _deploy_pod_kernels as pk
from ansible_collections.remotedev.jupyter.plugins.module_utils._deploy_common import InvalidSettings
from ansible_collections.remotedev.jupyter.plugins.module_utils._deploy_engine import component_for
from ansible_collections.remotedev.jupyter.tests.unit.plugins.module_utils.role_settings import settings_for

IMAGE = "registry.example.invalid/remotedev/jupyter-server:1"
CREDS = {"token": "t" * 48, "password_hash": "", "secret_data": {"token": "t" * 48}, "checksum": "c" * 64}
API = [{"ipBlock": {"cidr": "10.0.0.1/32"}}]
BIG = {"name": "big", "display_name": "Big data", "image": "registry.example.invalid/k:2", "environment": "py-data",
       "resources": {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"memory": "8Gi"}}, "gpu_count": 1,
       "node_selector": {"pool": "gpu"}, "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
       "launch_timeout": 300, "env": [{"name": "OMP_NUM_THREADS", "value": "4"}]}


def jupyter(**overrides):
    overrides.setdefault("image", IMAGE)
    overrides.setdefault("pod_kernel_api_to", API)
    component = component_for("jupyter_server", settings_for("jupyter_server", **overrides))
    component.validate()
    return component


def objects(component):
    return {(o["kind"], o["metadata"]["name"]): o for o in component.objects(CREDS)}


def server_pod(component):
    return objects(component)[("Deployment", "jupyter-demo")]["spec"]["template"]["spec"]


def kernel_files(component):
    data = objects(component)[("ConfigMap", "jupyter-demo-kernels")]["data"]
    return {key: json.loads(value) for key, value in data.items()}


def test_off_by_default_nothing_changes():
    component = jupyter(pod_kernels=[])
    found = objects(component)
    assert not [k for k in found if k[1].endswith("-kernels") or k[0] in ("ServiceAccount", "Role", "RoleBinding")]
    pod = server_pod(component)
    assert pod["automountServiceAccountToken"] is False and "serviceAccountName" not in pod
    assert "JUPYTER_PATH" not in {e["name"] for e in pod["containers"][0]["env"]}
    # switched off: the engine removes them
    named = {(kind, name): on for _v, kind, name, on in component.optional_named()}
    assert named[("ServiceAccount", "jupyter-demo")] is False and named[("Role", "jupyter-demo-kernels")] is False


def test_rbac_is_a_namespaced_role_on_pods_only():
    component = jupyter(pod_kernels=[{"name": "pod"}])
    found = objects(component)
    account = found[("ServiceAccount", "jupyter-demo")]
    assert account["automountServiceAccountToken"] is False  # only the server's pod mounts the token
    role = found[("Role", "jupyter-demo-kernels")]
    assert role["metadata"]["namespace"] == "remotedev-jupyter"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"],
                              "verbs": ["create", "get", "list", "watch", "delete"]}]
    binding = found[("RoleBinding", "jupyter-demo-kernels")]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "jupyter-demo-kernels"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "jupyter-demo", "namespace": "remotedev-jupyter"}]
    assert not [k for k in found if k[0].startswith("Cluster")]
    kinds = [o["kind"] for o in component.objects(CREDS)]
    assert kinds.index("RoleBinding") < kinds.index("Deployment")  # the token works when the pod starts


def test_server_pod_gets_token_kernelspecs_and_provisioner_env():
    pod = server_pod(jupyter(pod_kernels=[{"name": "pod"}, BIG]))
    assert pod["automountServiceAccountToken"] is True and pod["serviceAccountName"] == "jupyter-demo"
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in pod["containers"][0]["env"]}
    assert env["JUPYTER_PATH"] == "/etc/jupyter-kernels"
    assert env["GP_NAMESPACE"] == "remotedev-jupyter" and env["GP_RESPONSE_PORT"] == "8877"
    # the orphan cleanup: this instance's kernel pods, its server pods, the server pod's own name
    assert env["REMOTEDEV_KERNEL_POD_SELECTOR"] == "app.kubernetes.io/instance=demo,app.kubernetes.io/name=jupyter-kernel"
    assert env["REMOTEDEV_SERVER_POD_SELECTOR"] == "app.kubernetes.io/instance=demo,app.kubernetes.io/name=jupyter-server"
    assert env["REMOTEDEV_SERVER_POD"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert {"name": "kernels", "mountPath": "/etc/jupyter-kernels", "readOnly": True} in pod["containers"][0]["volumeMounts"]
    volume = [v for v in pod["volumes"] if v["name"] == "kernels"][0]
    assert volume["configMap"]["name"] == "jupyter-demo-kernels"
    assert [i["path"] for i in volume["configMap"]["items"]] == [
        "kernels/pod/kernel.json", "kernels/pod/pod.json", "kernels/big/kernel.json", "kernels/big/pod.json"]


def test_the_server_loads_the_orphan_cleanup_only_with_pod_kernels():
    assert "ServerApp.jpserver_extensions = {'remotedev_kernel_pods': True}" in jupyter(pod_kernels=[{"name": "pod"}]).config
    assert "jpserver_extensions" not in jupyter(pod_kernels=[]).config


def test_kernelspec_uses_the_provisioner_and_the_launcher():
    files = kernel_files(jupyter(pod_kernels=[{"name": "pod"}, BIG]))
    spec = files["big.kernel.json"]
    assert spec["display_name"] == "Big data" and spec["language"] == "python"
    assert spec["metadata"]["kernel_provisioner"] == {
        "provisioner_name": "remotedev-kubernetes-provisioner",
        "config": {"image_name": "registry.example.invalid/k:2", "launch_timeout": 300}}
    assert spec["argv"][:5] == ["/opt/jupyter/bin/python", "-m", "remotedev_kernel_pods.launch", "--pod-template",
                                "/etc/jupyter-kernels/kernels/big/pod.json"]
    for placeholder in ("{kernel_id}", "{response_address}", "{public_key}", "{port_range}", "{transport_encryption}"):
        assert placeholder in spec["argv"]
    assert spec["env"] == {"KERNEL_NAMESPACE": "remotedev-jupyter"}
    default = files["pod.kernel.json"]
    assert default["display_name"] == "pod"
    assert default["metadata"]["kernel_provisioner"]["config"] == {"image_name": IMAGE, "launch_timeout": 120}


def test_kernel_pod_is_restricted_tokenless_and_sized_per_kernel():
    files = kernel_files(jupyter(pod_kernels=[{"name": "pod"}, BIG]))
    pod = files["big.pod.json"]
    assert pod["metadata"]["namespace"] == "remotedev-jupyter"
    assert pod["metadata"]["labels"]["app.kubernetes.io/name"] == "jupyter-kernel"  # not the server's selector
    assert pod["metadata"]["labels"]["app.kubernetes.io/instance"] == "demo"
    assert pod["metadata"]["labels"][pk.KERNEL_LABEL] == "big"
    spec = pod["spec"]
    assert spec["automountServiceAccountToken"] is False and "serviceAccountName" not in spec
    assert spec["restartPolicy"] == "Never"
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] == 1000
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["nodeSelector"] == {"pool": "gpu"} and spec["tolerations"] == BIG["tolerations"]
    container = spec["containers"][0]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["resources"] == {"requests": {"cpu": "1", "memory": "4Gi"},
                                      "limits": {"memory": "8Gi", "nvidia.com/gpu": 1}}
    assert container["image"] == "registry.example.invalid/k:2" and container["args"] == ["/usr/local/bin/bootstrap-kernel.sh"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["PATH"].startswith("/opt/kernels/py-data/bin:") and env["OMP_NUM_THREADS"] == "4"
    assert {"name": "notebooks", "mountPath": "/home/jovyan/work"} in container["volumeMounts"]
    assert {"name": "notebooks", "persistentVolumeClaim": {"claimName": "jupyter-demo"}} in spec["volumes"]
    assert container["workingDir"] == "/home/jovyan/work"
    small = files["pod.pod.json"]["spec"]
    assert small["containers"][0]["resources"] == settings_for("jupyter_server")["pod_kernel_resources"]
    assert "nodeSelector" not in small and "tolerations" not in small
    assert small["containers"][0]["image"] == IMAGE
    assert "token" not in json.dumps(files).lower().replace("automountserviceaccounttoken", "")


def test_network_policies_kernels_only_from_their_server():
    found = objects(jupyter(pod_kernels=[{"name": "pod"}]))
    kernels = found[("NetworkPolicy", "jupyter-demo-kernels")]["spec"]
    server_peer = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "jupyter-server",
                                                   "app.kubernetes.io/instance": "demo"}}}
    kernel_peer = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "jupyter-kernel",
                                                   "app.kubernetes.io/instance": "demo"}}}
    assert kernels["podSelector"] == kernel_peer["podSelector"]
    assert kernels["ingress"] == [{"from": [server_peer]}]
    server = found[("NetworkPolicy", "jupyter-demo")]["spec"]
    # egress like the server's, plus the server's response port
    assert kernels["egress"][:-1] == server["egress"][:len(kernels["egress"]) - 1]
    assert kernels["egress"][-1] == {"ports": [{"port": 8877, "protocol": "TCP"}], "to": [server_peer]}
    assert {"ports": [{"port": 8877, "protocol": "TCP"}], "from": [kernel_peer]} in server["ingress"]
    assert {"to": [kernel_peer]} in server["egress"] and {"to": API} in server["egress"]
    open_egress = objects(jupyter(pod_kernels=[{"name": "pod"}], network_policy_egress_enabled=False))
    assert "egress" not in open_egress[("NetworkPolicy", "jupyter-demo-kernels")]["spec"]
    assert ("NetworkPolicy", "jupyter-demo-kernels") not in objects(
        jupyter(pod_kernels=[{"name": "pod"}], network_policy_enabled=False))


def test_warnings_name_the_token_and_the_missing_api_peers():
    component = jupyter(pod_kernels=[{"name": "pod"}], pod_kernel_api_to=[])
    text = " ".join(component.warnings)
    assert "jupyter_server_pod_kernel_api_to is empty" in text and "Kubernetes token" in text
    assert not jupyter(pod_kernels=[]).warnings


@pytest.mark.parametrize(("overrides", "message"), [
    ({"pod_kernels": [{"name": "bad name"}]}, "jupyter_server_pod_kernels[0] (bad name): name must be a kernelspec name"),
    ({"pod_kernels": [{"name": "a"}, {"name": "A"}]}, "jupyter_server_pod_kernels[1] (A): the kernel name A is given twice"),
    ({"pod_kernels": [{"name": "a", "image": "Bad Image"}]}, "jupyter_server_pod_kernels[0] (a): image: \"Bad Image\" is not an image"),
    ({"pod_kernels": [{"name": "a", "environment": "../x"}]}, "environment must name a kernel environment"),
    ({"pod_kernels": [{"name": "a", "resources": {"limits": {"memory": "lots"}}}]}, "jupyter_server_pod_kernels[0] (a): resources"),
    ({"pod_kernels": [{"name": "a", "gpu_count": 99}]}, "gpu_count=99 is out of range"),
    ({"pod_kernels": [{"name": "a", "node_selector": {"bad key!": "x"}}]}, "(a): node_selector"),
    ({"pod_kernels": [{"name": "a", "tolerations": [{"operator": "Sometimes"}]}]}, "(a): tolerations"),
    ({"pod_kernels": [{"name": "a", "launch_timeout": 5}]}, "launch_timeout=5 is out of range"),
    ({"pod_kernels": [{"name": "a", "env": [{"name": "PUBLIC_KEY", "value": "x"}]}]}, "set by the role itself"),
    ({"pod_kernels": [{"name": "a", "colour": "red"}]}, "has unknown keys colour"),
    ({"pod_kernel_launch_timeout": 1}, "jupyter_server_pod_kernel_launch_timeout=1 is out of range"),
    ({"pod_kernel_response_port": 8888}, "jupyter_server_pod_kernel_response_port=8888 must be 1024-65535 and not"),
    ({"pod_kernel_api_to": [{"ipBlock": {"cidr": "nonsense"}}]}, "jupyter_server_pod_kernel_api_to"),
    ({"pod_kernel_resources": {"requests": {"cpu": "-1"}}}, "jupyter_server_pod_kernel_resources"),
])
def test_bad_pod_kernel_settings_name_the_variable(overrides, message):
    with pytest.raises(InvalidSettings) as failure:
        jupyter(**overrides)
    assert message in str(failure.value)
