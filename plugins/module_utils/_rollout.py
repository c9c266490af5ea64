# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rollout state and its diagnosis from API objects (PRIVATE, no public API).

Pure functions of the pods of one pod template, the Deployment and the
namespace's warning events, as the API returns them (parsed JSON)."""

from __future__ import annotations

import re

from ansible_collections.remotedev.jupyter.plugins.module_utils._deploy_common import FATAL_REASONS


def live_pods(pods):
    return [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]


def pod_ready(pod):
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def rollout_ready(pods, replicas):
    """All live pods of the template are Ready, and there are enough of them."""
    live = live_pods(pods)
    return len(live) >= replicas and all(pod_ready(p) for p in live)


def stuck_containers(pods):
    """Containers (init containers too) waiting for a reason that will not fix itself."""
    stuck = []
    for pod in live_pods(pods):
        status = pod.get("status") or {}
        for container in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
            waiting = (container.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in FATAL_REASONS:
                stuck.append({"name": container.get("name"), "reason": waiting["reason"],
                              "message": waiting.get("message", "")})
    return stuck


def deployment_available(deployment):
    conditions = ((deployment or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Available" and c.get("status") == "True" for c in conditions)


def failing_conditions(deployment):
    conditions = ((deployment or {}).get("status") or {}).get("conditions") or []
    return [c.get("message", "") for c in conditions if c.get("status") != "True"]


def warnings_about(events, name, limit=5):
    """The last distinct messages of warning events about the Deployment called
    name, its ReplicaSets (name-<hash>) and their pods (name-<hash>-<suffix>);
    not about another instance whose name only starts the same (name-2)."""
    pattern = re.compile(re.escape(name) + r"(-[a-z0-9]{6,10}(-[a-z0-9]{5})?)?$")
    messages = []
    for event in events:
        if event.get("type", "Warning") != "Warning":
            continue
        if not pattern.match((event.get("involvedObject") or {}).get("name", "")):
            continue
        message = event.get("message", "")
        if message in messages:
            messages.remove(message)  # keep its latest position
        messages.append(message)
    return messages[-limit:]


def not_ready_message(what, stuck, deployment, events, name, timeout):
    """Why a rollout did not get ready: stuck containers, failing Deployment
    conditions, recent warning events."""
    containers = "; ".join("%s: %s: %s" % (c["name"], c["reason"], c["message"]) for c in stuck) or "none waiting"
    conditions = "; ".join(failing_conditions(deployment)) or "none failing"
    warnings = "; ".join(warnings_about(events, name)) or "none"
    return (
        "%s is not ready%s. Containers: %s. Deployment conditions: %s. Warnings: %s. "
        "See docs/runbook-troubleshoot-pod.md."
        % (what, " (gave up early: it will not recover by itself)" if stuck else " after %ss" % timeout,
           containers, conditions, warnings)
    )
