# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The standalone frontend component (PRIVATE, no public API): the notebook
page and its same-origin reverse proxy (the image role's image_kind=frontend)
in front of a Jupyter Server of the namespace, found through the server's
client contract (its Service's URL annotation).

The frontend holds no credential: users log in on the server's own login
page through the proxy. So it has no Secret, no ConfigMap and no volume; its
pods are stateless and may be many."""

from __future__ import annotations

import hashlib
import json
import re
from urllib.parse import urlsplit

from ansible_collections.remotedev.jupyter.plugins.module_utils._deploy_common import (
    CONFIG_CHECKSUM_ANNOTATION,
    JUPYTER_APP,
    check_names,
    client_pod_labels,
    deployment_object,
    egress_rules,
    ingress_annotations,
    ingress_object,
    network_policy_object,
    pod_scheduling,
    pod_security_context,
    read_server_service_annotations,
    scanner_skips,
    service_object,
)
from ansible_collections.remotedev.jupyter.plugins.module_utils._deploy_component import Component, PreflightError

HTTP_URL = re.compile(r"^https?://[^/\s?#]+(/[A-Za-z0-9._~\-/]*)?/$")
APP_DIR = "frontend/"


def split_server_url(url):
    """(origin, base path) of a Jupyter Server URL such as
    http://jupyter-a.team.svc.cluster.local:8888/jupyter/: what the proxy is
    given as FRONTEND_UPSTREAM and FRONTEND_BASE_URL."""
    parts = urlsplit(url)
    return "%s://%s" % (parts.scheme, parts.netloc), parts.path or "/"


class Frontend(Component):
    prefix = "frontend"
    app = "jupyter-frontend"
    component = "frontend"
    container = "frontend"
    what = "frontend"
    data_volume = ""
    max_replicas = 20
    single_replica_reason = " (stateless: any number of pods)"
    # The proxy's configuration: the component sets it from the Jupyter Server it finds.
    reserved_env = ("FRONTEND_UPSTREAM", "FRONTEND_BASE_URL", "FRONTEND_HOST", "FRONTEND_PORT", "FRONTEND_APP_DIR")

    def __init__(self, settings):
        super().__init__(settings)
        self.jupyter_name = settings["jupyter_name"]

    # ------------------------------------------------------------ validation

    def check(self, problems):
        s = self.s
        check_names(problems, s, ["name", "jupyter_name"])
        super().check(problems)
        problems.check(not s["jupyter_url"] or HTTP_URL.fullmatch(s["jupyter_url"]),
                       "%s must be an http(s) URL ending in '/' with no query (got %s)."
                       % (s.var("jupyter_url"), json.dumps(s["jupyter_url"])))
        problems.check(not s["render_only"] or s["jupyter_url"] or s["state"] == "absent",
                       "With %s there is no cluster to read the Jupyter Server's URL from: set %s."
                       % (s.var("render_only"), s.var("jupyter_url")))

    # ------------------------------------------------------------ preflight

    def missing_namespace_message(self):
        return ("Namespace %s does not exist. Run the jupyter_server role first (the frontend goes next to a "
                "Jupyter Server). Nothing was changed." % self.namespace)

    def preflight(self, client, check_mode):
        super().preflight(client, check_mode)
        if self.s["state"] == "present":
            self.facts["jupyter_url"] = self.find_jupyter_server(client, check_mode)

    def find_jupyter_server(self, client, check_mode=False):
        """The server's URL: the explicit setting, else its Service's annotation."""
        s = self.s
        if s["jupyter_url"]:
            return s["jupyter_url"]
        service = None
        if self.facts.get("namespace_exists"):
            service = client.get("v1", "Service", self.jupyter_name, self.namespace)
        url = read_server_service_annotations(service)[0]
        if url:
            return url
        if check_mode:
            self.warnings.append("Jupyter Server %s is not in namespace %s yet: the preview assumes the one this run "
                                 "would deploy." % (self.jupyter_name, self.namespace))
            return "http://%s.%s.svc.%s:8888/" % (self.jupyter_name, self.namespace, s["cluster_domain"])
        raise PreflightError(
            "Jupyter Server %s not found in namespace %s (no Service with a remotedev.jupyter/url annotation). "
            "Deploy it first with remotedev.jupyter.jupyter_server, name it in %s, or set %s. Nothing was changed."
            % (self.jupyter_name, self.namespace, s.var("jupyter_name"), s.var("jupyter_url")))

    @property
    def jupyter_url(self):
        return self.facts.get("jupyter_url") or self.s["jupyter_url"]

    # ------------------------------------------------------------ credentials: none

    def credentials(self, existing):
        return {}

    # ------------------------------------------------------------ objects

    def proxy_env(self):
        upstream, base_url = split_server_url(self.jupyter_url)
        return [
            {"name": "FRONTEND_UPSTREAM", "value": upstream},
            {"name": "FRONTEND_BASE_URL", "value": base_url},
            {"name": "FRONTEND_HOST", "value": "0.0.0.0"},
            {"name": "FRONTEND_PORT", "value": str(self.s["port"])},
        ]

    @property
    def page_path(self):
        return split_server_url(self.jupyter_url)[1] + APP_DIR

    def objects(self, creds):
        s = self.s
        name, namespace, labels = self.name, self.namespace, self.labels
        objects = [self.pull_secret()] if self.pull_secret() is not None else []
        if s["network_policy_enabled"]:
            # In: the ingress controller (and extra peers). Out: DNS and the Jupyter
            # Server's pods, whose own policy lets this one in as its client.
            objects.append(network_policy_object(
                name, namespace, labels, self.selector, s["network_policy_ingress_namespace_labels"],
                s["network_policy_ingress_pod_labels"], s["network_policy_extra_from"],
                egress=egress_rules(s, {"app.kubernetes.io/name": JUPYTER_APP})))
        objects.append(service_object(name, namespace, labels, self.selector, s["service_port"]))
        if s["ingress_enabled"]:
            annotations = ingress_annotations(s["ingress_class_annotations"], s["ingress_class_name"], s["ingress_annotations"])
            objects.append(ingress_object(name, namespace, labels, annotations, s["ingress_class_name"],
                                          s["ingress_hosts"], s["ingress_tls_secret"]))
        objects.append(self.deployment())
        return objects

    def deployment(self):
        s = self.s
        env = self.proxy_env()
        # Nothing to write: no volume at all, the root filesystem read-only.
        container = self.main_container(env, self.page_path + "healthz", s["resources"], [])
        pod = {
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "securityContext": pod_security_context(s["uid"], s["gid"]),
        }
        pod.update(pod_scheduling(self.pull_secret_names, s["node_selector"], s["tolerations"], s["affinity"]))
        pod["containers"] = [container]
        annotations = {CONFIG_CHECKSUM_ANNOTATION: hashlib.sha256(json.dumps(env, sort_keys=True).encode()).hexdigest()}
        pod_labels = dict(self.labels, **client_pod_labels(self.jupyter_name))
        strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
        return deployment_object(self.name, self.namespace, self.labels, self.selector, s["replicas"], strategy,
                                 pod_labels, annotations, pod, scanner_skips(s["uid"], s.var("uid"), volumes=False))

    def removable(self):
        return [
            ("networking.k8s.io/v1", "Ingress"),
            ("apps/v1", "Deployment"),
            ("v1", "Service"),
            ("networking.k8s.io/v1", "NetworkPolicy"),
        ]

    # ------------------------------------------------------------ how to connect

    def connection(self, creds):
        return {
            **self.connection_base(),
            "page_path": self.page_path,
            "jupyter_url": self.jupyter_url,
        }

    def summary(self, creds):
        s = self.s
        external = self.external_url
        return [
            "frontend %s/%s in front of %s" % (self.namespace, self.name, self.jupyter_url),
            ("Open: " + external) if external else (
                "Open: %s port-forward svc/%s 8080:%s, then http://127.0.0.1:8080/"
                % (self.kubectl, self.name, s["service_port"])),
            "Log in with your own credentials on the Jupyter Server's login page (the frontend holds none).",
        ]
