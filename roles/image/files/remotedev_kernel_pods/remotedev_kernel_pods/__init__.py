"""Kernels of one shared Jupyter Server in their own Kubernetes pods.

The pure part, without the Kubernetes client: the kernel pod from its template
and a launch, and why a pod that should run a kernel does not (yet).
`launch` (the kernelspec's argv) and `provisioner` (the kernel provisioner)
use it; both need gateway_provisioners[k8s].
"""

from __future__ import annotations

import copy
import re
import typing as t

__version__ = "1.0.0"

#: gateway_provisioners finds a kernel's pod by these two labels.
KERNEL_ID_LABEL = "kernel_id"
COMPONENT_LABEL = "component"
COMPONENT = "kernel"
#: Who started the kernel (named users, KERNEL_USERNAME), as a label value.
USER_LABEL = "remotedev.jupyter/user"
#: The server pod that launched the kernel (REMOTEDEV_SERVER_POD, the downward
#: API's pod name): a server starting up deletes the kernel pods of servers
#: that are gone (orphans).
SERVER_LABEL = "remotedev.jupyter/server"
#: The server process that launched the kernel (REMOTEDEV_SERVER_BOOT, which
#: the cleanup extension sets at the server's start): a server container
#: restarted in the same pod (its server OOM-killed) keeps the pod's name but
#: not its kernels, so its new process deletes the pods of the old one.
SERVER_BOOT_LABEL = "remotedev.jupyter/server-boot"
SERVER_BOOT_ENV = "REMOTEDEV_SERVER_BOOT"
#: The server's environment naming its kernel pods and its own pods, as label
#: selectors (the deploy engine sets them).
KERNEL_SELECTOR_ENV = "REMOTEDEV_KERNEL_POD_SELECTOR"
SERVER_SELECTOR_ENV = "REMOTEDEV_SERVER_POD_SELECTOR"
SERVER_POD_ENV = "REMOTEDEV_SERVER_POD"

#: What the kernel in the pod gets from the launch, besides the template's env:
#: what bootstrap-kernel.sh and launch_ipykernel.py need to call the server
#: back. Nothing else of the server's environment reaches the pod.
LAUNCH_ENV = (
    "KERNEL_ID",
    "KERNEL_LANGUAGE",
    "KERNEL_USERNAME",
    "KERNEL_NAME",
    "RESPONSE_ADDRESS",
    "PUBLIC_KEY",
    "PORT_RANGE",
    "TRANSPORT_ENCRYPTION",
)

#: Container waiting reasons that waiting longer does not cure: the launch
#: fails at once, naming it. ErrImagePull is retried by the kubelet; its
#: back-off (ImagePullBackOff) means a pull has already failed.
FATAL_WAITING = frozenset([
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
])
#: Reasons of a container that is on its way.
STARTING = frozenset(["ContainerCreating", "PodInitializing"])

_LABEL_VALUE_BAD = re.compile(r"[^A-Za-z0-9._-]+")


class LaunchError(ValueError):
    """The pod template or the launch cannot make a kernel pod."""


def label_value(text: str) -> str:
    """`text` as a label value: at most 63 of [A-Za-z0-9._-], alphanumeric at both ends."""
    value = _LABEL_VALUE_BAD.sub("-", text)[:63]
    return value.strip("-_.")


def kernel_pod(template: dict, env: t.Mapping[str, str], launch: t.Mapping[str, str]) -> dict:
    """The kernel pod: `template` (the kernelspec's pod.json) named
    KERNEL_POD_NAME of `env` (gateway_provisioners sets it), labelled with the
    kernel id and the user, its first container given the LAUNCH_ENV entries of
    `launch`. The namespace is the template's; KERNEL_NAMESPACE must agree,
    since the provisioner looks for the pod there."""
    pod = copy.deepcopy(template)
    meta = pod.setdefault("metadata", {})
    namespace = meta.get("namespace", "")
    if not namespace or env.get("KERNEL_NAMESPACE", namespace) != namespace:
        raise LaunchError("the pod template's namespace (%r) must be KERNEL_NAMESPACE (%r)"
                          % (namespace, env.get("KERNEL_NAMESPACE")))
    name = env.get("KERNEL_POD_NAME", "")
    kernel_id = launch.get("KERNEL_ID", "")
    if not name or not kernel_id:
        raise LaunchError("KERNEL_POD_NAME and the kernel id are required")
    meta["name"] = name
    labels = meta.setdefault("labels", {})
    labels[KERNEL_ID_LABEL] = kernel_id
    labels[COMPONENT_LABEL] = COMPONENT
    user = label_value(launch.get("KERNEL_USERNAME", ""))
    if user:
        labels[USER_LABEL] = user
    server = label_value(env.get(SERVER_POD_ENV, ""))
    if server:
        labels[SERVER_LABEL] = server
    boot = label_value(env.get(SERVER_BOOT_ENV, ""))
    if server and boot:
        labels[SERVER_BOOT_LABEL] = boot
    containers = (pod.get("spec") or {}).get("containers") or []
    if not containers:
        raise LaunchError("the pod template has no container")
    container_env = [e for e in containers[0].get("env") or [] if e.get("name") not in LAUNCH_ENV]
    container_env += [{"name": key, "value": str(launch[key])} for key in LAUNCH_ENV if launch.get(key)]
    containers[0]["env"] = container_env
    return pod


def pod_problem(pod: t.Optional[dict]) -> tuple[str, bool]:
    """Why `pod` (as the API returns it) runs no kernel yet, and whether waiting
    is pointless: ("", False) when nothing is wrong (yet)."""
    if not pod:
        return "", False
    status = pod.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return ("not scheduled (%s): %s" % (condition.get("reason") or "Pending",
                                                condition.get("message") or "no message"), False)
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        waiting = state.get("waiting") or {}
        reason = waiting.get("reason") or ""
        if reason and reason not in STARTING:
            return ("container %s waiting (%s): %s" % (container.get("name"), reason,
                                                       waiting.get("message") or "no message"), reason in FATAL_WAITING)
        terminated = state.get("terminated")
        if terminated:
            return ("container %s terminated (%s, exit code %s): %s"
                    % (container.get("name"), terminated.get("reason") or "?", terminated.get("exitCode"),
                       terminated.get("message") or "no message"), True)
    phase = status.get("phase") or ""
    if phase in ("Failed", "Succeeded"):
        return "pod %s: %s" % (phase, status.get("message") or status.get("reason") or "no message"), True
    return "", False


def current_pod(kernel_pods: t.Iterable[dict]) -> t.Optional[dict]:
    """The kernel's pod among those its kernel id selects (as the API returns
    them): the first not being deleted. A restart deletes the old pod and
    creates a new one of the same name, and a pod deleted under its kernel
    means the kernel is gone: neither is the kernel's pod any more."""
    for pod in kernel_pods:
        if not (pod.get("metadata") or {}).get("deletionTimestamp"):
            return pod
    return None


def orphans(kernel_pods: t.Iterable[dict], server_pods: t.Iterable[dict],
            own_pod: str = "", own_boot: str = "") -> list[str]:
    """Names of the kernel pods (as the API returns them) that no live server
    owns: launched by a server pod that is gone or going (deleted, or ended),
    by no known server, or by an earlier process of this server's own pod
    (`own_pod`, whose current process is `own_boot`: its container restarted).
    The kernels of the other servers still running (the other replicas, the
    old pod of a rolling update) are kept: they are theirs."""
    live = set()
    for pod in server_pods:
        meta = pod.get("metadata") or {}
        phase = (pod.get("status") or {}).get("phase")
        if not meta.get("deletionTimestamp") and phase in ("Pending", "Running"):
            live.add(label_value(meta.get("name", "")))
    own_pod, own_boot = label_value(own_pod), label_value(own_boot)
    found = []
    for pod in kernel_pods:
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            continue
        labels = meta.get("labels") or {}
        server = labels.get(SERVER_LABEL)
        if server not in live or (own_pod and own_boot and server == own_pod
                                  and labels.get(SERVER_BOOT_LABEL) != own_boot):
            found.append(meta["name"])
    return sorted(found)


def _jupyter_server_extension_points():
    """The server extension that deletes orphaned kernel pods at start."""
    return [{"module": "remotedev_kernel_pods.cleanup"}]
