# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy engine (PRIVATE, no public API): one instance of a component,
converged, removed, rendered or inspected in one API session.

converge: validate -> preflight reads -> credentials (explicit, else the
cluster's Secret, else generated once) -> objects -> a new image of a running
Deployment pulled by a check pod first -> server-side apply of each
(dry run in check mode) -> removal of the optional objects switched off ->
wait for the pods of exactly this pod template -> connection facts.

Secret values never leave the engine except in the Secret itself: results,
diffs and rendered files carry them redacted."""

from __future__ import annotations

import base64
import copy
import os
import tempfile
import time


from ansible_collections.remotedev.jupyter.plugins.module_utils._deploy_common import (
    FIELD_MANAGER,
    REDACTED,
    TEMPLATE_LABEL,
    InvalidSettings,
    Settings,
    pod_template_digest_of,
    redact_secret,
    to_yaml,
)
from ansible_collections.remotedev.jupyter.plugins.module_utils._deploy_component import PreflightError
from ansible_collections.remotedev.jupyter.plugins.module_utils._deploy_code_server import CodeServer
from ansible_collections.remotedev.jupyter.plugins.module_utils._deploy_frontend import Frontend
from ansible_collections.remotedev.jupyter.plugins.module_utils._deploy_jupyter_server import JupyterServer
from ansible_collections.remotedev.jupyter.plugins.module_utils._k8s_client import (
    Client,
    ConfigError,
    KubeError,
    load_connection,
    poll,
)
from ansible_collections.remotedev.jupyter.plugins.module_utils import _image_check as image_check
from ansible_collections.remotedev.jupyter.plugins.module_utils import _rollout as rollout

COMPONENTS = {cls.prefix: cls for cls in (JupyterServer, CodeServer, Frontend)}

# Fields the API server owns: left out of diffs and change detection.
SERVER_FIELDS = ("managedFields", "resourceVersion", "generation", "creationTimestamp", "uid", "selfLink")


class EngineError(Exception):
    """The converge stopped; the message says why and whether anything changed."""


def component_for(prefix, values):
    try:
        cls = COMPONENTS[prefix]
    except KeyError:
        raise EngineError("unknown component %r (known: %s)" % (prefix, ", ".join(sorted(COMPONENTS))))
    return cls(Settings(prefix, values))


def object_id(obj):
    return "%s/%s" % (obj["kind"], obj["metadata"]["name"])


def comparable(obj):
    """An object as the user wrote it: without the fields the server owns, and without status."""
    if obj is None:
        return None
    clean = copy.deepcopy(obj)
    clean.pop("status", None)
    meta = clean.get("metadata") or {}
    for key in SERVER_FIELDS:
        meta.pop(key, None)
    annotations = meta.get("annotations") or {}
    annotations.pop("deployment.kubernetes.io/revision", None)
    if "annotations" in meta and not annotations:
        meta.pop("annotations")
    return clean


def decode_secret_data(secret):
    data = (secret or {}).get("data") or {}
    return {key: base64.b64decode(value).decode("utf-8") for key, value in data.items()}


class Engine:
    """Runs one component instance against a cluster (or, for render, without one)."""

    def __init__(self, component, check_mode=False, diff=False, client=None, clock=time.monotonic, sleep=time.sleep,
                 poll_interval=0.5, run_command=None):
        self.c = component
        self.s = component.s
        self.check_mode = check_mode
        self.want_diff = diff
        self._client = client
        self.clock = clock
        self.sleep = sleep
        self.poll_interval = poll_interval
        self.run_command = run_command  # for kubeconfig exec credential plugins
        self.changed = False
        self.changes = []  # "created Secret/x", "updated Deployment/x", ...
        # Set before the first write is sent: from then on a lost connection
        # may have left a change behind that this run never heard about.
        self.writing = False
        self.diffs = []
        self.warnings = []

    # ------------------------------------------------------------ plumbing

    @property
    def client(self):
        if self._client is None:
            s = self.s
            try:
                conn = load_connection(s["kubeconfig"] or None, s["context"] or None, run_command=self.run_command)
                self._client = Client(conn, field_manager=s["field_manager"] or FIELD_MANAGER)
            except (ConfigError, OSError, ValueError) as exc:
                raise EngineError(self.unreachable(exc))
        return self._client

    def unreachable(self, exc):
        s = self.s
        where = getattr(getattr(self._client, "conn", None), "describe", lambda: None)() or (
            "kubeconfig %s%s, context %s" % (s["kubeconfig"] or os.environ.get("K8S_AUTH_KUBECONFIG") or os.environ.get("KUBECONFIG") or "~/.kube/config",
                                             " from %s" % s.var("kubeconfig") if s["kubeconfig"] else "",
                                             s["context"] or "(current)"))
        return "Cannot reach the Kubernetes API (%s): %s. %s" % (where, exc, self.changed_so_far())

    def changed_so_far(self):
        """What a failed run leaves behind, as far as this run knows."""
        if not self.writing:
            return "Nothing was changed."
        return ("Changed before the failure: %s (a request in flight may have been applied too); "
                "run again to converge." % (", ".join(self.changes) or "nothing confirmed"))

    def result(self, **more):
        result = {"changed": self.changed, "changes": self.changes}
        if self.want_diff and self.diffs:
            result["diff"] = self.diffs
        if self.warnings:
            result["warnings"] = self.warnings
        result.update(more)
        return result

    def record(self, action, obj_id, before=None, after=None):
        self.changed = True
        self.changes.append("%s %s" % (action, obj_id))
        if self.want_diff:
            self.diffs.append({
                "before_header": obj_id + (" (live)" if before is not None else " (absent)"),
                "after_header": obj_id + (" (dry run)" if self.check_mode else ""),
                "before": to_yaml(before) if before is not None else "",
                "after": to_yaml(after) if after is not None else "",
            })

    # ------------------------------------------------------------ entry points

    def run(self):
        """What the role asks for: render, converge or remove."""
        self.c.validate()
        self.warnings.extend(self.c.warnings)
        s = self.s
        if s["render_only"]:
            return self.render(s["render_dest"])
        try:
            self.preflight()
            if s["state"] == "absent":
                return self.remove()
            return self.converge()
        except KubeError as exc:
            if exc.status == 0:
                raise EngineError(self.unreachable(exc))
            raise EngineError("%s: the Kubernetes API refused a request: %s. %s"
                              % (self.c.title, exc, self.changed_so_far()))
        finally:
            if self._client is not None:
                self._client.close()

    def validate(self):
        """Only the checks that need no cluster: a playbook runs this for every
        role before the first change of any (playbooks/deploy.yml)."""
        self.c.validate()
        self.warnings.extend(self.c.warnings)
        return self.result(summary=["%s: the settings are valid." % self.c.title])

    def preflight(self):
        known = len(self.c.warnings)
        try:
            self.c.preflight(self.client, self.check_mode)
            self.warnings.extend(self.c.warnings[known:])
        except PreflightError as exc:
            raise EngineError(str(exc))
        except KubeError as exc:
            raise EngineError(self.unreachable(exc) if exc.status == 0 else
                              "%s: reading the cluster failed: %s. Nothing was changed." % (self.c.title, exc))

    # ------------------------------------------------------------ converge

    def existing_secret(self):
        if not self.c.facts.get("namespace_exists"):
            return {}
        return decode_secret_data(self.client.get("v1", "Secret", self.c.secret_name, self.c.namespace))

    def converge(self):
        c = self.c
        creds = c.credentials(self.existing_secret())
        objects = c.objects(creds)
        namespace_ready = c.facts.get("namespace_exists")
        if namespace_ready and not self.check_mode:
            # The check pod pulls with the managed pull Secret: it must be current first.
            pull_secret = c.pull_secret()
            if pull_secret is not None:
                self.apply(pull_secret)
                objects = [o for o in objects if o is not pull_secret and not (
                    o["kind"] == "Secret" and o["metadata"]["name"] == c.pull_secret_name)]
            self.check_new_images(next(o for o in objects if o["kind"] == "Deployment"))
        # In a namespace this run creates, nothing exists yet: no need to ask.
        new_namespace = not namespace_ready
        for obj in objects:
            if obj["kind"] == "Namespace":
                self.apply(obj, known_absent=new_namespace)
                namespace_ready = namespace_ready or not self.check_mode
            elif self.check_mode and not namespace_ready:
                # A dry run of a namespaced object fails while its namespace does not exist.
                self.record("would create", object_id(obj), None, redact_secret(obj))
            else:
                self.apply(obj, known_absent=new_namespace)
        if c.facts.get("namespace_exists"):
            self.remove_switched_off()
        if not self.check_mode and self.s["wait"] and self.s["replicas"] > 0:
            self.wait(next(o for o in objects if o["kind"] == "Deployment"))
        c.facts["kube_context"] = getattr(getattr(self.client, "conn", None), "context", "")
        summary = c.summary(creds)
        if self.check_mode and not c.facts.get("namespace_exists"):
            summary.insert(0, "Namespace %s does not exist yet; a converge would create %s."
                           % (c.namespace, ", ".join(object_id(o) for o in objects if o["kind"] != "Namespace")))
        return self.result(connection=c.connection(creds), summary=summary)

    def check_new_images(self, deployment):
        """A new image of a running Deployment is pulled by a check pod before
        anything is applied (see _image_check); the check pod is deleted again."""
        c = self.c
        images = image_check.changed_images(self.client.get("apps/v1", "Deployment", c.name, c.namespace), deployment)
        if not images:
            return
        labels = {k: v for k, v in c.labels.items() if k not in c.selector}
        labels["app.kubernetes.io/component"] = "image-check"
        pod = image_check.check_pod(deployment, images, labels)
        name = pod["metadata"]["name"]
        # A check pod a killed run left behind would answer for its own image.
        self.client.delete("v1", "Pod", name, c.namespace)
        self.wait_for_absent_pod(name)
        try:
            self.client.apply(pod)
            outcome = self.wait_for_pull(name)
        finally:
            self.client.delete("v1", "Pod", name, c.namespace)
        if outcome is None or outcome[0] != "pulled":
            why = ("still pulling after %ss" % self.s["wait_timeout"]) if outcome is None else (
                "no node takes it: %s" % outcome[1] if outcome[0] == "unschedulable" else outcome[1])
            raise EngineError(
                "%s: the new image %s cannot be pulled (%s; checked with pod %s, pull secrets %s), so the running "
                "pod was left alone. %s" % (
                    c.title, ", ".join(images), why, name, ", ".join(c.pull_secret_names) or "none",
                    self.changed_so_far() if self.changes else "Nothing was changed."))

    def wait_for_pull(self, name):
        deadline = self.clock() + self.s["wait_timeout"]
        while True:
            outcome = image_check.pull_outcome(self.client.get("v1", "Pod", name, self.c.namespace))
            if outcome is not None and outcome[0] != "unschedulable":
                return outcome
            if self.clock() >= deadline:
                return outcome
            self.sleep(self.poll_interval)

    def wait_for_absent_pod(self, name):
        deadline = self.clock() + 60
        while self.client.get("v1", "Pod", name, self.c.namespace) is not None and self.clock() < deadline:
            self.sleep(self.poll_interval)

    def apply(self, obj, known_absent=False):
        client = self.client
        meta = obj["metadata"]
        before = None if known_absent else client.get(obj["apiVersion"], obj["kind"], meta["name"],
                                                      meta.get("namespace"))
        self.writing = self.writing or not self.check_mode
        after = client.apply(obj, dry_run=self.check_mode, force=self.s["force_conflicts"])
        if before is None:
            self.record("would create" if self.check_mode else "created", object_id(obj),
                        None, self.shown(after))
        elif self.differs(before, after):
            self.record("would update" if self.check_mode else "updated", object_id(obj),
                        self.shown(before), self.shown(after, before))
        return after

    def differs(self, before, after):
        if not self.check_mode:
            return before["metadata"].get("resourceVersion") != after["metadata"].get("resourceVersion")
        return comparable(before) != comparable(after)

    def shown(self, obj, before=None):
        """An object for a diff: no server-owned fields, Secret values redacted."""
        return redact_secret(comparable(obj), comparable(before) if before is not None else None)

    def remove_switched_off(self):
        for api_version, kind, enabled in self.c.optional_kinds():
            if not enabled:
                self.delete(api_version, kind, self.c.name)
        for api_version, kind, name, enabled in self.c.optional_named():
            if not enabled:
                self.delete(api_version, kind, name)

    def delete(self, api_version, kind, name):
        client = self.client
        before = client.get(api_version, kind, name, self.c.namespace) if kind != "Route" or self.route_api() else None
        if before is None:
            return False
        self.writing = self.writing or not self.check_mode
        client.delete(api_version, kind, name, self.c.namespace, dry_run=self.check_mode)
        self.record("would delete" if self.check_mode else "deleted", "%s/%s" % (kind, name),
                    self.shown(before), None)
        return True

    def route_api(self):
        if "route_api" not in self.c.facts:
            self.c.facts["route_api"] = self.client.api_served("route.openshift.io/v1")
        return self.c.facts["route_api"]

    # ------------------------------------------------------------ wait

    def wait(self, deployment):
        """Until the pods of exactly this template are Ready and the Deployment is
        Available; gives up early when a container cannot get there by itself."""
        c, s = self.c, self.s
        selector = ",".join("%s=%s" % kv for kv in sorted(c.selector.items()))
        selector += ",%s=%s" % (TEMPLATE_LABEL, pod_template_digest_of(deployment))
        state = {}

        def settled():
            pods, state["version"] = self.list_pods(selector)
            state["stuck"] = rollout.stuck_containers(pods)
            if state["stuck"]:
                return True
            state["pods_ready"] = rollout.rollout_ready(pods, s["replicas"])
            if not state["pods_ready"]:
                return False
            return rollout.deployment_available(self.client.get("apps/v1", "Deployment", c.name, c.namespace))

        deadline = self.clock() + s["wait_timeout"]
        while not settled():
            remaining = deadline - self.clock()
            if remaining <= 0:
                break
            if state["pods_ready"]:
                # Only the Deployment's status is behind; it follows the pods within moments.
                self.sleep(min(0.1, remaining))
            else:
                self.until_pods_change(selector, state["version"], min(remaining, 10))
        else:
            if not state["stuck"]:
                return
        deployment_now = self.client.get("apps/v1", "Deployment", c.name, c.namespace)
        events = self.client.list("v1", "Event", c.namespace, field_selector="type=Warning")
        raise EngineError(rollout.not_ready_message(c.title, state.get("stuck") or [], deployment_now, events,
                                                    c.name, s["wait_timeout"]))

    def list_pods(self, selector):
        client = self.client
        if hasattr(client, "list_versioned"):
            return client.list_versioned("v1", "Pod", self.c.namespace, label_selector=selector)
        return client.list("v1", "Pod", self.c.namespace, label_selector=selector), ""

    def until_pods_change(self, selector, version, timeout):
        """A watch where the client can (no delay, no polling), else a pause."""
        client = self.client
        if version and hasattr(client, "wait_for_change"):
            try:
                client.wait_for_change("v1", "Pod", self.c.namespace, selector, version, timeout)
                return
            except KubeError:
                pass  # an expired resourceVersion, a dropped watch: look again after a pause
        self.sleep(min(self.poll_interval, timeout))

    # ------------------------------------------------------------ remove

    def remove(self):
        """Everything but the PVC (and the namespace); the PVC too with purge_data."""
        c, s = self.c, self.s
        if not c.facts.get("namespace_exists"):
            return self.result(summary=["Namespace %s does not exist: nothing to remove." % c.namespace])
        for api_version, kind in c.removable():
            self.delete(api_version, kind, c.name)
        for api_version, kind, name, _enabled in c.optional_named():
            self.delete(api_version, kind, name)
        for labels in c.leftover_pod_labels():
            # Pods the component's pods started and did not remove (kernel pods
            # of a server that was killed): they hold the PVC too.
            selector = ",".join("%s=%s" % kv for kv in sorted(labels.items()))
            for pod in self.client.list("v1", "Pod", c.namespace, label_selector=selector):
                self.delete("v1", "Pod", pod["metadata"]["name"])
        if not self.check_mode:
            selector = ",".join("%s=%s" % kv for kv in sorted(c.selector.items()))
            gone = poll(lambda: not self.client.list("v1", "Pod", c.namespace, label_selector=selector),
                        s["wait_timeout"], self.poll_interval, self.clock, self.sleep)
            if not gone:
                raise EngineError("%s: its pods are still there after %ss (they hold the PVC). Removed: %s."
                                  % (c.title, s["wait_timeout"], ", ".join(self.changes) or "nothing"))
        if not c.data_volume:
            return self.result(summary=["Removed %s (it keeps no data)." % c.title])
        where = "PersistentVolumeClaim %s/%s" % (c.namespace, c.name)
        if s["purge_data"]:
            self.delete("v1", "PersistentVolumeClaim", c.name)
            if not self.check_mode:
                poll(lambda: self.client.get("v1", "PersistentVolumeClaim", c.name, c.namespace) is None,
                     s["wait_timeout"], self.poll_interval, self.clock, self.sleep)
            message = "Purged %s (%s deleted)." % (where, c.data_volume)
        else:
            message = ("Kept %s (%s); a new converge reattaches it. Purge with %s=true."
                       % (where, c.data_volume, s.var("purge_data")))
        return self.result(summary=[message])

    # ------------------------------------------------------------ render

    def render(self, dest):
        """The manifests as a converge would apply them (Secret values redacted),
        written to dest; no cluster is contacted."""
        c = self.c
        c.facts["namespace_exists"] = False
        creds = c.credentials({})
        # The checksum is made of the secrets, which a render does not show either;
        # and a generated token must not make every render a change.
        creds["checksum"] = REDACTED
        documents = []
        for obj in c.objects(creds):
            if obj["kind"] == "Secret":
                obj = dict(obj, data={key: base64.b64encode(REDACTED.encode()).decode() for key in obj["data"]})
            documents.append(obj)
        content = "# Rendered by remotedev.jupyter.%s (render_only); Secret values redacted.\n" % c.prefix
        content += "".join("---\n" + to_yaml(doc) for doc in documents)
        try:
            with open(dest, "r", encoding="utf-8") as handle:
                current = handle.read()
        except OSError:
            current = None
        if current != content:
            self.changed = True
            self.changes.append("rendered " + dest)
            if not self.check_mode:
                directory = os.path.dirname(os.path.abspath(dest))
                fd, tmp = tempfile.mkstemp(dir=directory, prefix=".render.")
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(content)
                os.chmod(tmp, 0o644)
                os.replace(tmp, dest)
        return self.result(dest=dest, summary=["Rendered %s to %s." % (c.title, dest)])

    # ------------------------------------------------------------ status

    def status(self):
        """How a deployed instance is doing, from the cluster and from the server's own API."""
        c = self.c
        if not hasattr(c, "probe_url"):
            raise EngineError("mode=status is not supported for %s" % c.prefix)
        try:
            client = self.client
            deployment = client.get("apps/v1", "Deployment", c.name, c.namespace)
            secret = decode_secret_data(client.get("v1", "Secret", c.secret_name, c.namespace))
            selector = ",".join("%s=%s" % kv for kv in sorted(c.selector.items()))
            pods = rollout.live_pods(client.list("v1", "Pod", c.namespace, label_selector=selector))
            service = client.get("v1", "Service", c.name, c.namespace)
        except KubeError as exc:
            raise EngineError(self.unreachable(exc) if exc.status == 0 else "%s: %s" % (c.title, exc))
        finally:
            if self._client is not None:
                self._client.close()
        if deployment is None or not secret:
            raise EngineError("%s is not deployed (no Deployment or no Secret). Run playbooks/deploy.yml." % c.title)
        report = c.probe(c.probe_url(service), secret, check_mode=self.check_mode)
        spec, status = deployment["spec"], deployment.get("status") or {}
        ready = status.get("readyReplicas", 0)
        report["deployment"] = {
            "ready": ready, "replicas": spec.get("replicas", 0),
            "image": spec["template"]["spec"]["containers"][0]["image"],
        }
        report["pods"] = [{
            "name": p["metadata"]["name"], "phase": (p.get("status") or {}).get("phase", ""),
            "restarts": sum(cs.get("restartCount", 0) for cs in (p.get("status") or {}).get("containerStatuses") or []),
        } for p in pods]
        code_ok = (report.get("execution") or {}).get("status", "ok") == "ok"
        report["healthy"] = bool(ready == spec.get("replicas", 0) and report.get("version") and code_ok)
        return self.result(status=report, summary=c.status_lines(report), healthy=report["healthy"])


def merge_results(results):
    """One task result for an instance and its per-user instances, in order:
    changed if any changed, every change, diff, warning and summary line; the
    first one's connection, with the others' under users."""
    merged = dict(results[0])
    merged["changes"] = [c for r in results for c in r.get("changes", [])]
    merged["changed"] = any(r.get("changed") for r in results)
    for key in ("diff", "warnings"):
        items = [item for r in results for item in r.get(key, [])]
        if items:
            merged[key] = items
    merged["summary"] = [line for r in results for line in r.get("summary", [])]
    if "connection" in merged and len(results) > 1:
        merged["connection"] = dict(merged["connection"], users={
            r["connection"]["user"]: r["connection"] for r in results[1:] if "connection" in r})
    return merged


def run_all(components, make_engine):
    """Run each component (an instance, then its per-user ones) after every
    one of them passed validation: a bad entry changes nothing at all."""
    for component in components:
        component.validate()
    results = []
    for component in components:
        try:
            results.append(make_engine(component).run())
        except EngineError as exc:
            done = [c for r in results for c in r.get("changes", [])]
            if not done:
                raise
            error = EngineError("%s (Done before: %s.)" % (exc, ", ".join(done)))
            # The task reports changed: the instances before this one did change.
            error.changed = True
            raise error
    return merge_results(results)


def run(prefix, values, check_mode=False, diff=False):
    """Validate and run one instance; InvalidSettings and EngineError carry the message for the user."""
    engine = Engine(component_for(prefix, values), check_mode=check_mode, diff=diff)
    return engine.run()


__all__ = ["COMPONENTS", "Engine", "EngineError", "InvalidSettings", "component_for", "merge_results", "run", "run_all"]
