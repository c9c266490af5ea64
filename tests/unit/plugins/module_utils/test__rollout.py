# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of _rollout: readiness and diagnosis from recorded API objects
(pods, a Deployment and events as the API returns them)."""

from __future__ import annotations

import json

import pytest

from ansible_collections.remotedev.jupyter.plugins.module_utils import _rollout as rollout

# A pod of the template, as `GET /api/v1/namespaces/ns/pods?labelSelector=...` lists it (abridged).
READY_POD = json.loads("""
{
  "metadata": {"name": "jupyter-demo-7d9c6b5f4-x2x9k", "namespace": "ns",
               "labels": {"app.kubernetes.io/name": "jupyter-server", "app.kubernetes.io/instance": "demo"}},
  "status": {
    "phase": "Running",
    "conditions": [
      {"type": "PodReadyToStartContainers", "status": "True"},
      {"type": "Initialized", "status": "True"},
      {"type": "Ready", "status": "True"},
      {"type": "ContainersReady", "status": "True"},
      {"type": "PodScheduled", "status": "True"}
    ],
    "containerStatuses": [
      {"name": "jupyter-server", "ready": true, "restartCount": 0, "image": "img:1",
       "state": {"running": {"startedAt": "2024-05-01T10:00:00Z"}}}
    ]
  }
}
""")

STARTING_POD = json.loads("""
{
  "metadata": {"name": "jupyter-demo-7d9c6b5f4-abcde", "namespace": "ns"},
  "status": {
    "phase": "Pending",
    "conditions": [
      {"type": "Initialized", "status": "True"},
      {"type": "Ready", "status": "False", "reason": "ContainersNotReady",
       "message": "containers with unready status: [jupyter-server]"},
      {"type": "PodScheduled", "status": "True"}
    ],
    "containerStatuses": [
      {"name": "jupyter-server", "ready": false, "restartCount": 0, "image": "img:1",
       "state": {"waiting": {"reason": "ContainerCreating"}}}
    ]
  }
}
""")

PULL_BACKOFF_POD = json.loads("""
{
  "metadata": {"name": "jupyter-demo-6f5d8c7b9-q7w8e", "namespace": "ns"},
  "status": {
    "phase": "Pending",
    "conditions": [{"type": "Ready", "status": "False"}],
    "containerStatuses": [
      {"name": "jupyter-server", "ready": false, "restartCount": 0, "image": "registry.invalid/img:nope",
       "state": {"waiting": {"reason": "ImagePullBackOff",
                             "message": "Back-off pulling image \\"registry.invalid/img:nope\\""}}}
    ]
  }
}
""")

INIT_CRASH_POD = json.loads("""
{
  "metadata": {"name": "code-server-demo-5c4b3a2d1-zzzzz", "namespace": "ns"},
  "status": {
    "phase": "Pending",
    "conditions": [{"type": "Initialized", "status": "False"}, {"type": "Ready", "status": "False"}],
    "initContainerStatuses": [
      {"name": "install-extensions", "ready": false, "restartCount": 4,
       "state": {"waiting": {"reason": "CrashLoopBackOff",
                             "message": "back-off 1m20s restarting failed container=install-extensions"}},
       "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}
    ],
    "containerStatuses": [
      {"name": "code-server", "ready": false, "restartCount": 0,
       "state": {"waiting": {"reason": "PodInitializing"}}}
    ]
  }
}
""")

DEPLOYMENT = json.loads("""
{
  "apiVersion": "apps/v1", "kind": "Deployment",
  "metadata": {"name": "jupyter-demo", "namespace": "ns", "generation": 2},
  "spec": {"replicas": 1},
  "status": {
    "observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "unavailableReplicas": 1,
    "conditions": [
      {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
       "message": "Deployment does not have minimum availability."},
      {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
       "message": "ReplicaSet \\"jupyter-demo-6f5d8c7b9\\" is progressing."}
    ]
  }
}
""")

AVAILABLE_DEPLOYMENT = json.loads("""
{
  "apiVersion": "apps/v1", "kind": "Deployment",
  "metadata": {"name": "jupyter-demo", "namespace": "ns"},
  "status": {
    "readyReplicas": 1,
    "conditions": [
      {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
       "message": "Deployment has minimum availability."},
      {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
       "message": "ReplicaSet \\"jupyter-demo-7d9c6b5f4\\" has successfully progressed."}
    ]
  }
}
""")


def event(name, message, kind="Pod", event_type="Warning", reason="Failed"):
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "%s.17c9a3e0d1f2a3b4" % name, "namespace": "ns"},
        "involvedObject": {"kind": kind, "name": name, "namespace": "ns"},
        "reason": reason, "message": message, "type": event_type, "count": 1,
    }


def terminating(pod):
    pod = json.loads(json.dumps(pod))
    pod["metadata"]["deletionTimestamp"] = "2024-05-01T10:05:00Z"
    return pod


# ---------------------------------------------------------------- readiness


def test_ready_pod_and_rollout():
    assert rollout.pod_ready(READY_POD)
    assert not rollout.pod_ready(STARTING_POD)
    assert not rollout.pod_ready({"metadata": {"name": "x"}})
    assert rollout.rollout_ready([READY_POD], 1)


def test_rollout_not_ready_while_a_pod_is_not_ready():
    assert not rollout.rollout_ready([STARTING_POD], 1)
    assert not rollout.rollout_ready([READY_POD, STARTING_POD], 1)


def test_rollout_too_few_pods():
    assert not rollout.rollout_ready([], 1)
    assert not rollout.rollout_ready([READY_POD], 2)
    assert rollout.rollout_ready([], 0)


def test_terminating_pods_are_ignored():
    # An old pod on its way out, not ready any more, does not hold the rollout back...
    assert rollout.rollout_ready([READY_POD, terminating(STARTING_POD)], 1)
    # ...nor does a terminating ready one count as the replica.
    assert not rollout.rollout_ready([terminating(READY_POD)], 1)
    assert rollout.live_pods([terminating(READY_POD), STARTING_POD]) == [STARTING_POD]


# ---------------------------------------------------------------- stuck containers


def test_stuck_container_image_pull_backoff():
    assert rollout.stuck_containers([PULL_BACKOFF_POD]) == [{
        "name": "jupyter-server", "reason": "ImagePullBackOff",
        "message": "Back-off pulling image \"registry.invalid/img:nope\"",
    }]


def test_stuck_init_container():
    assert rollout.stuck_containers([INIT_CRASH_POD]) == [{
        "name": "install-extensions", "reason": "CrashLoopBackOff",
        "message": "back-off 1m20s restarting failed container=install-extensions",
    }]


@pytest.mark.parametrize("reason", ["ContainerCreating", "PodInitializing", "ErrImagePull", "Unknown", None])
def test_only_fatal_reasons_are_stuck(reason):
    pod = json.loads(json.dumps(STARTING_POD))
    pod["status"]["containerStatuses"][0]["state"] = {"waiting": {"reason": reason}} if reason else {}
    assert rollout.stuck_containers([pod]) == []


@pytest.mark.parametrize("reason", sorted(["ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
                                           "CreateContainerConfigError", "CreateContainerError",
                                           "CrashLoopBackOff", "RunContainerError"]))
def test_every_fatal_reason_is_stuck(reason):
    pod = json.loads(json.dumps(STARTING_POD))
    pod["status"]["containerStatuses"][0]["state"] = {"waiting": {"reason": reason}}
    assert rollout.stuck_containers([pod]) == [{"name": "jupyter-server", "reason": reason, "message": ""}]


def test_stuck_ignores_terminating_pods_and_missing_status():
    assert rollout.stuck_containers([terminating(PULL_BACKOFF_POD), {"metadata": {"name": "p"}}]) == []
    assert rollout.stuck_containers([READY_POD, STARTING_POD]) == []


def test_stuck_from_several_pods_in_order():
    stuck = rollout.stuck_containers([INIT_CRASH_POD, READY_POD, PULL_BACKOFF_POD])
    assert [(c["name"], c["reason"]) for c in stuck] == [("install-extensions", "CrashLoopBackOff"),
                                                         ("jupyter-server", "ImagePullBackOff")]


# ---------------------------------------------------------------- deployment


def test_deployment_available_and_failing_conditions():
    assert rollout.deployment_available(AVAILABLE_DEPLOYMENT)
    assert not rollout.deployment_available(DEPLOYMENT)
    assert not rollout.deployment_available(None)
    assert not rollout.deployment_available({"metadata": {}})
    assert rollout.failing_conditions(DEPLOYMENT) == ["Deployment does not have minimum availability."]
    assert rollout.failing_conditions(AVAILABLE_DEPLOYMENT) == []
    assert rollout.failing_conditions(None) == []


# ---------------------------------------------------------------- warnings


def test_warnings_only_about_this_object_name():
    events = [
        event("jupyter-demo-6f5d8c7b9-q7w8e", "Failed to pull image"),
        event("jupyter-demo", "ReplicaSet create failed", kind="Deployment"),
        event("jupyter-demo2-aaaa", "about another instance"),
        event("other-jupyter-demo", "about yet another"),
        event("jupyter-demo-6f5d8c7b9-q7w8e", "Pulling image", event_type="Normal", reason="Pulling"),
        {"involvedObject": {"name": "jupyter-demo-6f5d8c7b9"}, "message": "no type: counts as a warning"},
        event("jupyter-demo-2", "about the instance demo-2", kind="Deployment"),
        event("jupyter-demo-2-6f5d8c7b9-q7w8e", "about a pod of the instance demo-2"),
        {"message": "no involved object"},
    ]
    assert rollout.warnings_about(events, "jupyter-demo") == [
        "Failed to pull image", "ReplicaSet create failed", "no type: counts as a warning"]


def test_warnings_last_five_distinct():
    messages = ["m%d" % i for i in range(8)]
    events = [event("jupyter-demo-6f5d8c7b9-q7w8e", m) for m in messages]
    events.insert(3, event("jupyter-demo-6f5d8c7b9-q7w8e", "m0"))  # a repeat is listed once
    events.append(event("jupyter-demo-6f5d8c7b9-q7w8e", "m7"))
    assert rollout.warnings_about(events, "jupyter-demo") == ["m3", "m4", "m5", "m6", "m7"]
    assert rollout.warnings_about(events, "jupyter-demo", limit=2) == ["m6", "m7"]
    events.append(event("jupyter-demo-6f5d8c7b9-q7w8e", "m1"))  # a repeat moves to its latest place
    assert rollout.warnings_about(events, "jupyter-demo") == ["m4", "m5", "m6", "m7", "m1"]
    assert rollout.warnings_about([], "jupyter-demo") == []


def test_warnings_name_is_not_a_pattern():
    events = [event("jupyterXdemo-6f5d8c7b9-q7w8e", "regex dot would match"),
              event("jupyter.demo-6f5d8c7b9-q7w8e", "literal")]
    assert rollout.warnings_about(events, "jupyter.demo") == ["literal"]


# ---------------------------------------------------------------- message


def test_not_ready_message_gave_up_early():
    stuck = rollout.stuck_containers([PULL_BACKOFF_POD])
    events = [event("jupyter-demo-6f5d8c7b9-q7w8e", "Failed to pull image \"registry.invalid/img:nope\""),
              event("code-server-demo-1", "unrelated warning")]
    message = rollout.not_ready_message("Jupyter Server ns/jupyter-demo", stuck, DEPLOYMENT, events, "jupyter-demo",
                                        600)
    assert message.startswith("Jupyter Server ns/jupyter-demo is not ready (gave up early: it will not recover by "
                              "itself). ")
    assert "after 600s" not in message
    assert "Containers: jupyter-server: ImagePullBackOff: Back-off pulling image \"registry.invalid/img:nope\"." in message
    assert "Deployment conditions: Deployment does not have minimum availability." in message
    assert "Warnings: Failed to pull image \"registry.invalid/img:nope\"." in message
    assert "unrelated warning" not in message
    assert message.endswith("See docs/runbook-troubleshoot-pod.md.")


def test_not_ready_message_timeout():
    message = rollout.not_ready_message("code-server ns/code-server-demo", [], AVAILABLE_DEPLOYMENT, [],
                                        "code-server-demo", 42)
    assert message == ("code-server ns/code-server-demo is not ready after 42s. Containers: none waiting. "
                       "Deployment conditions: none failing. Warnings: none. See docs/runbook-troubleshoot-pod.md.")


def test_not_ready_message_without_deployment_and_with_many_warnings():
    events = [event("jupyter-demo-6f5d8c7b9-q7w8%d" % i, "warning %d" % i) for i in range(7)]
    stuck = rollout.stuck_containers([INIT_CRASH_POD, PULL_BACKOFF_POD])
    message = rollout.not_ready_message("X", stuck, None, events, "jupyter-demo", 1)
    assert "Deployment conditions: none failing." in message
    assert "Warnings: warning 2; warning 3; warning 4; warning 5; warning 6." in message
    assert "warning 1;" not in message
    assert "Containers: install-extensions: CrashLoopBackOff: " in message
    assert "; jupyter-server: ImagePullBackOff: " in message
