# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of _image_check: which images need a pull check, the check pod,
and what the kubelet's container states say about the pull."""

from __future__ import annotations

import pytest

from ansible_collections.remotedev.jupyter.plugins.module_utils import _image_check as ic


def deployment(image, **pod_spec):
    spec = {"containers": [{"name": "jupyter-server", "image": image, "imagePullPolicy": "IfNotPresent"}]}
    spec.update(pod_spec)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "jupyter-demo", "namespace": "ns"},
            "spec": {"selector": {"matchLabels": {"app.kubernetes.io/instance": "demo"}},
                     "template": {"metadata": {"labels": {"app.kubernetes.io/instance": "demo"}}, "spec": spec}}}


def test_changed_images():
    assert ic.changed_images(None, deployment("a:2")) == []
    assert ic.changed_images(deployment("a:1"), deployment("a:1")) == []
    assert ic.changed_images(deployment("a:1"), deployment("a:2")) == ["a:2"]
    with_init = deployment("a:2", initContainers=[{"name": "init", "image": "a:2"}])
    assert ic.changed_images(deployment("a:1"), with_init) == ["a:2"]


def test_check_pod_pulls_where_the_pods_run_without_their_labels_token_or_volumes():
    source = deployment(
        "a:2", securityContext={"runAsNonRoot": True, "runAsUser": 1000}, imagePullSecrets=[{"name": "pull"}],
        nodeSelector={"gpu": "yes"}, tolerations=[{"key": "gpu", "operator": "Exists"}],
        affinity={"nodeAffinity": {"x": 1}, "podAntiAffinity": {"y": 2}},
        volumes=[{"name": "work", "persistentVolumeClaim": {"claimName": "c"}}], serviceAccountName="sa")
    pod = ic.check_pod(source, ["a:2"], {"app.kubernetes.io/part-of": "remotedev-jupyter"})
    assert pod["metadata"] == {"name": "jupyter-demo-image-check", "namespace": "ns", "labels": {
        "app.kubernetes.io/part-of": "remotedev-jupyter", ic.CHECK_LABEL: "jupyter-demo"}}
    spec = pod["spec"]
    assert spec["imagePullSecrets"] == [{"name": "pull"}] and spec["nodeSelector"] == {"gpu": "yes"}
    assert spec["tolerations"] == [{"key": "gpu", "operator": "Exists"}]
    assert spec["affinity"] == {"nodeAffinity": {"x": 1}}
    assert spec["securityContext"] == {"runAsNonRoot": True, "runAsUser": 1000}
    assert spec["automountServiceAccountToken"] is False and "volumes" not in spec and "serviceAccountName" not in spec
    assert spec["restartPolicy"] == "Never" and spec["activeDeadlineSeconds"] > 0
    [container] = spec["containers"]
    assert container["image"] == "a:2" and container["imagePullPolicy"] == "IfNotPresent"
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["resources"]["limits"]


def status(*states, conditions=()):
    return {"spec": {"containers": [{"name": "pull-%d" % i} for i in range(len(states))]},
            "status": {"conditions": list(conditions),
                       "containerStatuses": [{"name": "pull-%d" % i, "state": s} for i, s in enumerate(states)]}}


@pytest.mark.parametrize("pod, outcome", [
    (None, None),
    ({"spec": {"containers": [{"name": "pull-0"}]}, "status": {"phase": "Pending"}}, None),
    (status({"waiting": {"reason": "ContainerCreating"}}), None),
    (status({"running": {}}), ("pulled", "")),
    (status({"terminated": {"exitCode": 0}}), ("pulled", "")),
    (status({"terminated": {"exitCode": 128, "reason": "StartError"}}), ("pulled", "")),
    (status({"waiting": {"reason": "CreateContainerError", "message": "no true"}}), ("pulled", "")),
    (status({"terminated": {"exitCode": 0}}, {"waiting": {"reason": "ContainerCreating"}}), None),
    (status({"waiting": {"reason": "ErrImagePull", "message": "not found"}}), ("failed", "ErrImagePull: not found")),
    (status({"waiting": {"reason": "ImagePullBackOff", "message": "back-off"}}), ("failed", "ImagePullBackOff: back-off")),
    ({"status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                 "message": "0/1 nodes"}]}}, ("unschedulable", "0/1 nodes")),
], ids=["absent", "pending", "creating", "running", "ended", "no-true", "create-error", "one-of-two", "not-found",
        "backoff", "unschedulable"])
def test_pull_outcome(pod, outcome):
    assert ic.pull_outcome(pod) == outcome
