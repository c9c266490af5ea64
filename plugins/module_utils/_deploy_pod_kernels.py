# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernels in their own pods (PRIVATE, no public API): what the Jupyter Server
component adds for jupyter_server_pod_kernels.

Each pod kernel is a kernelspec that uses the image's
remotedev-kubernetes-provisioner (gateway_provisioners' KubernetesProvisioner,
roles/image/files/remotedev_kernel_pods) and a pod template (pod.json) next to
it, both in the ConfigMap <name>-kernels mounted on KERNELS_DIR. The server's
ServiceAccount may manage pods in its namespace only (a Role, no
ClusterRole); its token is mounted in the server's pod only. Kernel pods run
the same non-root uid under Pod Security restricted, without a token, mount
the notebooks volume and accept connections from their server only."""

from __future__ import annotations

import json
import re

from ansible_collections.remotedev.jupyter.plugins.module_utils._deploy_common import (
    common_labels,
    configmap_object,
    container_security_context,
    deep_merge,
    metadata,
    pod_scheduling,
    pod_security_context,
    selector_labels,
)
from ansible_collections.remotedev.jupyter.plugins.module_utils._k8s_values import (
    env_problems,
    image_problem,
    labels_problems,
    peers_problems,
    resources_problems,
    shown,
    tolerations_problems,
)

# Where the kernelspecs of the pod kernels are mounted in the server's pod
# (JUPYTER_PATH: jupyter_client looks in <dir>/kernels/<name>/).
KERNELS_DIR = "/etc/jupyter-kernels"
APP = "jupyter-kernel"
COMPONENT = "kernel"
KERNEL_LABEL = "remotedev.jupyter/kernel"
PROVISIONER = "remotedev-kubernetes-provisioner"
# The image's paths (roles/image): the server's Python (with remotedev_kernel_pods)
# and gateway_provisioners' bootstrap (jupyter image-bootstrap install).
SERVER_PYTHON = "/opt/jupyter/bin/python"
BOOTSTRAP = "/usr/local/bin/bootstrap-kernel.sh"
KERNEL_ENVIRONMENTS = "/opt/kernels"
# What the launcher sets in the kernel's container (remotedev_kernel_pods.LAUNCH_ENV)
# and what the pod template sets itself: a kernel's env may not override them.
RESERVED_KERNEL_ENV = ("KERNEL_ID", "KERNEL_LANGUAGE", "KERNEL_USERNAME", "KERNEL_NAME", "RESPONSE_ADDRESS",
                       "PUBLIC_KEY", "PORT_RANGE", "TRANSPORT_ENCRYPTION", "PATH", "HOME")
ENVIRONMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
KERNEL_KEYS = {"name", "display_name", "image", "environment", "resources", "gpu_count", "node_selector",
               "tolerations", "launch_timeout", "env"}


def enabled(s):
    return bool(s["pod_kernels"])


def kernels_configmap_name(name):
    return name + "-kernels"


def kernel_selector(instance):
    """The labels of every kernel pod of an instance (never the server's selector)."""
    return selector_labels(APP, instance)


# ------------------------------------------------------------ validation


def kernel_problems(s, kernel_name_pattern):
    """Every problem of the pod kernel variables, each naming its variable."""
    problems = []
    var = s.var("pod_kernels")
    seen = set()
    for index, kernel in enumerate(s["pod_kernels"]):
        name = kernel.get("name")
        where = "%s[%d]" % (var, index) + (" (%s)" % name if isinstance(name, str) and name else "")
        unknown = sorted(set(kernel) - KERNEL_KEYS)
        if unknown:
            problems.append("%s has unknown keys %s (known: %s)."
                            % (where, ", ".join(unknown), ", ".join(sorted(KERNEL_KEYS))))
        if not isinstance(name, str) or not kernel_name_pattern.fullmatch(name):
            problems.append("%s: name must be a kernelspec name (letters, digits, '.', '_', '-'; got %s)."
                            % (where, shown(name)))
        elif name.lower() in seen:
            problems.append("%s: the kernel name %s is given twice." % (where, name))
        else:
            seen.add(name.lower())
        if kernel.get("image"):
            reason = image_problem(kernel["image"])
            if reason:
                problems.append("%s: image: %s." % (where, reason))
        environment = kernel.get("environment") or "python3"
        if not ENVIRONMENT_NAME.fullmatch(environment):
            problems.append("%s: environment must name a kernel environment of the image (%s/<name>; got %s)."
                            % (where, KERNEL_ENVIRONMENTS, shown(environment)))
        if kernel.get("resources"):
            problems.extend("%s: resources%s." % (where, r if r.startswith("[") else ": " + r)
                            for r in resources_problems(kernel["resources"]))
        gpus = kernel.get("gpu_count") or 0
        if not 0 <= gpus <= 64:
            problems.append("%s: gpu_count=%s is out of range: it must be 0-64." % (where, gpus))
        problems.extend("%s: node_selector%s." % (where, r if r.startswith("[") else ": " + r)
                        for r in labels_problems(kernel.get("node_selector") or {}))
        problems.extend("%s: tolerations%s." % (where, r if r.startswith("[") else ": " + r)
                        for r in tolerations_problems(kernel.get("tolerations") or []))
        timeout = kernel.get("launch_timeout") or 0
        if timeout and not 10 <= timeout <= 3600:
            problems.append("%s: launch_timeout=%s is out of range: it must be 10-3600 seconds (0: %s)."
                            % (where, timeout, s.var("pod_kernel_launch_timeout")))
        problems.extend("%s: env%s." % (where, r) for r in env_problems(kernel.get("env") or [], RESERVED_KERNEL_ENV))
    if not 10 <= s["pod_kernel_launch_timeout"] <= 3600:
        problems.append("%s=%s is out of range: it must be 10-3600 seconds."
                        % (s.var("pod_kernel_launch_timeout"), s["pod_kernel_launch_timeout"]))
    port = s["pod_kernel_response_port"]
    if not 1024 <= port <= 65535 or port == s["port"]:
        problems.append("%s=%s must be 1024-65535 and not %s (%s)."
                        % (s.var("pod_kernel_response_port"), port, s.var("port"), s["port"]))
    problems.extend("%s%s." % (s.var("pod_kernel_api_to"), r if r.startswith("[") else ": " + r)
                    for r in peers_problems(s["pod_kernel_api_to"]))
    problems.extend("%s%s." % (s.var("pod_kernel_resources"), r if r.startswith("[") else ": " + r)
                    for r in resources_problems(s["pod_kernel_resources"]))
    return problems


def kernel_warnings(s):
    if not enabled(s):
        return []
    warnings = []
    if s["network_policy_enabled"] and s["network_policy_egress_enabled"] and not s["pod_kernel_api_to"]:
        warnings.append(
            "%s is set but %s is empty while the server's egress is restricted: unless the Kubernetes API's "
            "endpoints are public addresses (jupyter_server_network_policy_egress_internet), the server cannot "
            "reach the API to start kernel pods. List them there (e.g. - ipBlock: {cidr: <API endpoint IP>/32})."
            % (s.var("pod_kernels"), s.var("pod_kernel_api_to")))
    warnings.append(
        "%s: the server's pod holds a Kubernetes token that may manage pods in namespace %s; code that runs inside "
        "the server's pod (in-server kernels, terminals) can use it. For isolation allow only the pod kernels "
        "(KernelSpecManager.allowed_kernelspecs in %s) and turn terminals off (%s=false)."
        % (s.var("pod_kernels"), s["namespace"], s.var("settings"), s.var("terminals_enabled")))
    return warnings


# ------------------------------------------------------------ objects


def scanner_skips():
    """The Deployment's in-line checkov skip for the token it needs (ID=reason, no '=' in the reason)."""
    return {"checkov.io/skip2": (
        "CKV_K8S_38=the server starts, watches and deletes its kernel pods through the API "
        "(jupyter_server_pod_kernels); its ServiceAccount's Role allows only pods in its own namespace, and the "
        "kernel pods mount no token")}


def rbac_objects(name, namespace, labels):
    """ServiceAccount (no token by default), a Role for the kernel pods of this
    namespace only, and its binding."""
    role = kernels_configmap_name(name)
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata(name, namespace, labels),
         "automountServiceAccountToken": False},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": metadata(role, namespace, labels),
         # Launch (create), find and watch (get, list, watch), shut down and cull (delete).
         "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "get", "list", "watch", "delete"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": metadata(role, namespace, labels),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]},
    ]


def kernel_labels(s, instance, kernel_name):
    labels = common_labels(APP, instance, COMPONENT, s["labels"])
    labels[KERNEL_LABEL] = kernel_name
    return labels


def kernel_pod_template(component, kernel):
    """pod.json of one pod kernel: everything but its name, its kernel id and
    the launch's values (remotedev_kernel_pods.launch adds those)."""
    s = component.s
    resources = kernel.get("resources") or s["pod_kernel_resources"]
    gpus = kernel.get("gpu_count") or 0
    if gpus:
        resources = deep_merge(resources, {"limits": {s["gpu_resource"]: gpus}})
    scratch = list(s["scratch_dirs"]) if s["read_only_root_filesystem"] else []
    environment = kernel.get("environment") or "python3"
    env = [
        # The kernel environment's Python first: bootstrap-kernel.sh runs `python`.
        {"name": "PATH", "value": "%s/%s/bin:/usr/local/bin:/usr/bin:/bin" % (KERNEL_ENVIRONMENTS, environment)},
        {"name": "HOME", "value": s["home"]},
        {"name": "LANG", "value": "C.UTF-8"},
        {"name": "JUPYTER_RUNTIME_DIR", "value": "/tmp/jupyter-runtime"},
    ] + list(kernel.get("env") or [])
    container = {
        "name": COMPONENT,
        "image": kernel.get("image") or component.image,
        "imagePullPolicy": s["image_pull_policy"],
        # The image's entrypoint (tini) stays; the kernel instead of the server.
        "args": [BOOTSTRAP],
        "workingDir": s["root_dir"],
        "env": env,
        "securityContext": container_security_context(s["read_only_root_filesystem"]),
        "resources": resources,
        "volumeMounts": [{"name": "notebooks", "mountPath": s["root_dir"]}] + [
            {"name": "scratch-%d" % i, "mountPath": path} for i, path in enumerate(scratch)],
    }
    spec = {
        "restartPolicy": "Never",
        # Users' code: no Kubernetes API credentials, no Service environment.
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 5,
        "securityContext": pod_security_context(s["uid"], s["gid"]),
    }
    spec.update(pod_scheduling(component.pull_secret_names, kernel.get("node_selector") or {},
                               kernel.get("tolerations") or [], {}, s["priority_class_name"]))
    spec["containers"] = [container]
    spec["volumes"] = [{"name": "notebooks", "persistentVolumeClaim": {"claimName": component.name}}] + [
        {"name": "scratch-%d" % i, "emptyDir": {"sizeLimit": str(s["scratch_size_limit"])}}
        for i, _path in enumerate(scratch)]
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"namespace": component.namespace,
                     "labels": kernel_labels(s, component.instance, kernel["name"]),
                     # A kernel's state is lost with its pod: the autoscaler must not move it.
                     "annotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}},
        "spec": spec,
    }


def kernelspec(component, kernel):
    """kernel.json of one pod kernel."""
    s = component.s
    return {
        "argv": [SERVER_PYTHON, "-m", "remotedev_kernel_pods.launch",
                 "--pod-template", "%s/kernels/%s/pod.json" % (KERNELS_DIR, kernel["name"]),
                 "--kernel-id", "{kernel_id}", "--port-range", "{port_range}",
                 "--response-address", "{response_address}", "--public-key", "{public_key}",
                 "--transport-encryption", "{transport_encryption}"],
        "display_name": kernel.get("display_name") or kernel["name"],
        "language": "python",
        "env": {"KERNEL_NAMESPACE": component.namespace},
        "metadata": {"kernel_provisioner": {"provisioner_name": PROVISIONER, "config": {
            "image_name": kernel.get("image") or component.image,
            "launch_timeout": kernel.get("launch_timeout") or s["pod_kernel_launch_timeout"],
        }}},
    }


def kernels_configmap(component):
    """<name>-kernels: <kernel>.kernel.json and <kernel>.pod.json of every pod kernel."""
    data = {}
    for kernel in component.s["pod_kernels"]:
        data[kernel["name"] + ".kernel.json"] = json.dumps(kernelspec(component, kernel), indent=1, sort_keys=True)
        data[kernel["name"] + ".pod.json"] = json.dumps(kernel_pod_template(component, kernel), indent=1,
                                                        sort_keys=True)
    return configmap_object(kernels_configmap_name(component.name), component.namespace, component.labels, data)


def kernels_volume(component):
    items = []
    for kernel in component.s["pod_kernels"]:
        for key in ("kernel.json", "pod.json"):
            items.append({"key": kernel["name"] + "." + key, "path": "kernels/%s/%s" % (kernel["name"], key)})
    return {"name": "kernels", "configMap": {"name": kernels_configmap_name(component.name), "items": items}}


def selector_string(labels):
    return ",".join("%s=%s" % item for item in sorted(labels.items()))


def server_env(component):
    """What the provisioner in the server reads from its environment, and what
    its orphan cleanup (remotedev_kernel_pods.cleanup) needs: the selectors of
    the instance's kernel pods and server pods, and the server pod's own name
    (the label of the kernel pods it launches)."""
    s = component.s
    return [
        {"name": "JUPYTER_PATH", "value": KERNELS_DIR},
        {"name": "GP_NAMESPACE", "value": s["namespace"]},
        {"name": "GP_RESPONSE_PORT", "value": str(s["pod_kernel_response_port"])},
        {"name": "REMOTEDEV_KERNEL_POD_SELECTOR", "value": selector_string(kernel_selector(component.instance))},
        {"name": "REMOTEDEV_SERVER_POD_SELECTOR", "value": selector_string(component.selector)},
        {"name": "REMOTEDEV_SERVER_POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    ]


#: The server extension that deletes, at the server's start, the kernel pods a
#: server that is gone left behind (in the image with image_pod_kernels).
CLEANUP_EXTENSION = "remotedev_kernel_pods"


def kernel_network_policy(component, egress):
    """Kernel pods: in only from their server's pods (any port: the kernel's
    ZeroMQ ports and the launcher's signal port are random); out like the
    server (`egress`, None: unrestricted) plus the server's response port."""
    s = component.s
    server = {"podSelector": {"matchLabels": component.selector}}
    spec = {
        "podSelector": {"matchLabels": kernel_selector(component.instance)},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [server]}],
    }
    if egress is not None:
        spec["policyTypes"].append("Egress")
        spec["egress"] = list(egress) + [
            {"ports": [{"port": s["pod_kernel_response_port"], "protocol": "TCP"}], "to": [server]}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": metadata(kernels_configmap_name(component.name), component.namespace, component.labels),
            "spec": spec}


def extend_server_network_policy(component, policy):
    """The server's own policy: in from its kernel pods on the response port;
    out (when restricted) to its kernel pods and the Kubernetes API."""
    s = component.s
    kernels = {"podSelector": {"matchLabels": kernel_selector(component.instance)}}
    policy["spec"]["ingress"].append(
        {"ports": [{"port": s["pod_kernel_response_port"], "protocol": "TCP"}], "from": [kernels]})
    if "egress" in policy["spec"]:
        policy["spec"]["egress"].append({"to": [kernels]})
        if s["pod_kernel_api_to"]:
            policy["spec"]["egress"].append({"to": list(s["pod_kernel_api_to"])})
    return policy
