# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pull check before a new image rolls a Deployment (PRIVATE, no public API).

With the Recreate strategy (a ReadWriteOnce volume) the old pod is stopped
before the new one pulls its image: an image the nodes cannot pull (a tag
never pushed, a registry down, a missing pull secret) would leave the
instance with no server and every kernel gone. So before a converge changes
the image of a running Deployment, a short-lived pod of the new image, with
the Deployment's pull secrets and node placement, shows that a node can pull
it; only then is anything applied. On the node it lands on the image is then
cached, which shortens the outage of the roll itself.

Pure functions of API objects (parsed JSON); the engine does the calls."""

from __future__ import annotations

# The kubelet's reasons for a container that did not get its image.
PULL_FAILURES = frozenset([
    "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable",
    "SignatureValidationFailed",
])

CHECK_LABEL = "remotedev.jupyter/image-check"
CHECK_RESOURCES = {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}
# Longest a check pod may live if the run that made it dies before deleting it.
CHECK_DEADLINE_SECONDS = 900


def _containers(deployment):
    spec = (((deployment or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
    return (spec.get("initContainers") or []) + (spec.get("containers") or [])


def changed_images(live, wanted):
    """Images of `wanted` (a Deployment to apply) that its live version does not
    run, each once, in container order; [] when there is no live Deployment."""
    if not live:
        return []
    running = {c.get("image") for c in _containers(live)}
    images = []
    for container in _containers(wanted):
        image = container.get("image")
        if image and image not in running and image not in images:
            images.append(image)
    return images


def check_pod_name(name):
    return "%s-image-check" % name


def check_pod(deployment, images, labels):
    """A pod that pulls `images` where the Deployment's pods may run, under the
    Deployment's own pull secrets and security context, and exits at once.

    It carries none of the Deployment's selector labels (no Service or
    ReplicaSet may take it for one of theirs), no token and no volumes; only
    the node side of the affinity is kept (pod anti-affinity against the
    instance's own pods could keep it off the only node)."""
    meta = deployment["metadata"]
    template_spec = deployment["spec"]["template"]["spec"]
    pull_policy = next((c.get("imagePullPolicy") for c in _containers(deployment) if c.get("imagePullPolicy")), None)
    containers = []
    for index, image in enumerate(images):
        container = {
            "name": "pull-%d" % index, "image": image, "command": ["true"],
            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
                                "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
            "resources": CHECK_RESOURCES,
        }
        if pull_policy:
            container["imagePullPolicy"] = pull_policy
        containers.append(container)
    spec = {
        "restartPolicy": "Never", "automountServiceAccountToken": False, "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 0, "activeDeadlineSeconds": CHECK_DEADLINE_SECONDS,
        "containers": containers,
    }
    for key in ("securityContext", "imagePullSecrets", "nodeSelector", "tolerations", "priorityClassName"):
        if template_spec.get(key):
            spec[key] = template_spec[key]
    node_affinity = (template_spec.get("affinity") or {}).get("nodeAffinity")
    if node_affinity:
        spec["affinity"] = {"nodeAffinity": node_affinity}
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": check_pod_name(meta["name"]), "namespace": meta["namespace"],
                     "labels": dict(labels, **{CHECK_LABEL: meta["name"]})},
        "spec": spec,
    }


def pull_outcome(pod):
    """("pulled", "") once every container got past its image (running, ended,
    or stopped later for a reason of its own, such as a missing `true`);
    ("failed", why) when the kubelet could not pull; ("unschedulable", why)
    while no node takes the pod; None while it is still on its way."""
    status = (pod or {}).get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False" \
                and condition.get("reason") == "Unschedulable":
            return "unschedulable", condition.get("message", "")
    statuses = status.get("containerStatuses") or []
    wanted = len(((pod or {}).get("spec") or {}).get("containers") or [])
    past = 0
    for container in statuses:
        state = container.get("state") or {}
        waiting = state.get("waiting") or {}
        if waiting.get("reason") in PULL_FAILURES:
            return "failed", "%s: %s" % (waiting["reason"], waiting.get("message", ""))
        if "running" in state or "terminated" in state or (waiting and waiting.get("reason") not in (
                "ContainerCreating", "PodInitializing")):
            past += 1
    if wanted and past >= wanted:
        return "pulled", ""
    return None
