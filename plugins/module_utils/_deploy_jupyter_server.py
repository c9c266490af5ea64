# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Jupyter Server component (PRIVATE, no public API): the objects of one
shared server instance, from the jupyter_server role's variables."""

from __future__ import annotations

import json

from ansible_collections.remotedev.jupyter.plugins.module_utils._deploy_common import (
    CLIENT_LABEL,
    CONFIG_CHECKSUM_ANNOTATION,
    SECRET_CHECKSUM_ANNOTATION,
    DNS_SUBDOMAIN,
    check_names,
    configmap_object,
    content_checksum,
    deep_merge,
    deployment_object,
    egress_rules,
    ingress_object,
    metadata,
    namespace_object,
    network_policy_object,
    pod_scheduling,
    pod_security_context,
    pod_security_labels,
    pvc_object,
    secret_object,
    server_service_annotations,
    service_object,
    url_path,
)
from ansible_collections.remotedev.jupyter.plugins.module_utils._deploy_component import (
    TOKEN_ALPHABET,
    Component,
    PreflightError,
    generate_secret,
)
from ansible_collections.remotedev.jupyter.plugins.module_utils._password import MIN_PASSWORD_LENGTH, hash_password
from ansible_collections.remotedev.jupyter.plugins.module_utils._server_config import (
    SettingsError,
    prepare_settings,
    render,
    checksum as config_checksum,
)

# Where the Secret and the ConfigMap are mounted. The Secret's directory comes
# first in JUPYTER_CONFIG_PATH, so nothing in the image overrides them.
CONFIG_DIR = "/etc/jupyter"
SECRET_DIR = "/etc/jupyter-secret"
TOKEN_KEY = "token"
# An explicit token is held to the length of a generated one: it is all that
# stands between the network and code execution.
MIN_TOKEN_LENGTH = 32
HASH_KEY = "password-hash"
CONFIG_KEY = "jupyter_server_config.py"
SECRET_CONFIG_KEY = "jupyter_server_config.json"

# Traits jupyter_server_settings may not set: secrets (they belong in the
# Secret) and what the manifests are built from.
RESERVED_TRAITS = {
    "ServerApp": ["ip", "port", "base_url", "root_dir", "notebook_dir", "token", "password", "cookie_secret"],
    "NotebookApp": ["ip", "port", "base_url", "root_dir", "notebook_dir", "token", "password", "cookie_secret"],
    "IdentityProvider": ["token"],
    "PasswordIdentityProvider": ["hashed_password"],
}


class JupyterServer(Component):
    prefix = "jupyter_server"
    app = "jupyter-server"
    component = "server"
    container = "jupyter-server"
    what = "Jupyter Server"
    data_volume = "notebooks"
    single_replica_reason = " (kernels live in one process)"

    def __init__(self, settings):
        super().__init__(settings)
        self.url_path = url_path(settings["base_url"])
        self.may_create_namespace = settings["namespace_create"]

    # ------------------------------------------------------------ validation

    def check(self, problems):
        s = self.s
        check_names(problems, s, ["name"])
        super().check(problems)
        problems.in_range("gpu_count", 0, 64)
        problems.in_range("cull_idle_timeout", 0, 31536000)
        problems.in_range("cull_interval", 1, 86400)
        problems.in_range("token_length", MIN_TOKEN_LENGTH, 256)
        problems.min_length("token", MIN_TOKEN_LENGTH, "token", "one is generated once and kept")
        problems.min_length("password", MIN_PASSWORD_LENGTH, "password", "token login only")
        for class_name, traits in sorted(RESERVED_TRAITS.items()):
            given = s["settings"].get(class_name)
            clash = [t for t in traits if isinstance(given, dict) and t in given]
            problems.check(not clash, (
                "%s.%s sets %s: secrets would end up in the ConfigMap (use %s, %s or %s), and ip, port, base_url "
                "and root_dir must match the manifests (use %s, %s, %s)."
                % (s.var("settings"), class_name, ", ".join(clash), s.var("token"), s.var("password"),
                   s.var("password_hash"), s.var("port"), s.var("base_url"), s.var("root_dir"))))
        paths = [s["root_dir"], s["home"]] + list(s["scratch_dirs"])
        problems.check(
            all(p.startswith("/") for p in paths) and not any(c in self.url_path for c in "?# \t"),
            "%s, %s and %s must be absolute paths and %s a URL path (got %s)."
            % (s.var("root_dir"), s.var("home"), s.var("scratch_dirs"), s.var("base_url"), json.dumps(s["base_url"])))
        if s["route_enabled"]:
            problems.check(bool(DNS_SUBDOMAIN.match(s["route_host"] or "")),
                           "%s needs %s, a DNS name (got %s)."
                           % (s.var("route_enabled"), s.var("route_host"), json.dumps(s["route_host"])))
        if s["state"] == "present":
            try:
                self.config  # validated against jupyter_server's traits here, before any change
            except SettingsError as exc:
                problems.add("%s: %s" % (s.var("settings"), exc))

    # ------------------------------------------------------------ preflight

    def missing_namespace_message(self):
        return ("Namespace %s does not exist and %s is false. Create it first or let the role create it. "
                "Nothing was changed." % (self.namespace, self.s.var("namespace_create")))

    def preflight(self, client, check_mode):
        super().preflight(client, check_mode)
        s = self.s
        if s["state"] == "present" and s["route_enabled"]:
            self.facts["route_api"] = client.api_served("route.openshift.io/v1")
            if not self.facts["route_api"]:
                raise PreflightError(
                    "%s is true but the cluster serves no route.openshift.io/v1 API (not OpenShift?). Use %s "
                    "instead. Nothing was changed." % (s.var("route_enabled"), s.var("ingress_enabled")))

    # ------------------------------------------------------------ configuration

    def role_settings(self):
        """Settings the role owns; jupyter_server_settings is merged over them."""
        s = self.s
        return {
            "ServerApp": {
                "ip": "0.0.0.0",
                "port": s["port"],
                "base_url": self.url_path,
                "root_dir": s["root_dir"],
                "open_browser": False,
                "allow_root": False,
                "allow_remote_access": True,
                "disable_check_xsrf": False,
                "trust_xheaders": s["trust_xheaders"],
                "allow_origin": s["allow_origin"],
                "terminals_enabled": s["terminals_enabled"],
                "default_url": s["default_url"],
            },
            # Passwords are managed by the inventory (rotate_password); logging in
            # with the token must not let anyone set another one inside the pod.
            "PasswordIdentityProvider": {"allow_password_change": False},
            "MappingKernelManager": {
                "cull_idle_timeout": s["cull_idle_timeout"],
                "cull_interval": s["cull_interval"],
                "cull_connected": s["cull_connected"],
                "cull_busy": s["cull_busy"],
            },
        }

    @property
    def config(self):
        """jupyter_server_config.py, validated against jupyter_server's traits."""
        if not hasattr(self, "_config"):
            settings, _migrated, _notes = prepare_settings(
                deep_merge(self.role_settings(), self.s["settings"]), self.s["settings_extra_classes"])
            self._config = render(settings, "py")
        return self._config

    # ------------------------------------------------------------ credentials

    def credentials(self, existing):
        """Token: explicit, else the one in the cluster (unless regenerated), else
        generated once. Password hash: from the explicit password (kept while it
        still matches the stored hash), else an explicit hash, else the stored one."""
        s = self.s
        existing_token = existing.get(TOKEN_KEY, "")
        existing_hash = existing.get(HASH_KEY, "")
        if s["token"]:
            token = s["token"]
        elif existing_token and not s["regenerate_token"]:
            token = existing_token
        else:
            token = generate_secret(s["token_length"], TOKEN_ALPHABET)
        if s["password"]:
            password_hash = hash_password(s["password"], "jupyter", s["password_algorithm"], existing_hash or None)[0]
        else:
            password_hash = s["password_hash"] or existing_hash
        secret_settings, _m, _n = prepare_settings({"PasswordIdentityProvider": {"hashed_password": password_hash}})
        secret_config = render(secret_settings, "json")
        return {
            "token": token,
            "password_hash": password_hash,
            "secret_data": {TOKEN_KEY: token, HASH_KEY: password_hash, SECRET_CONFIG_KEY: secret_config},
            "checksum": content_checksum(token, password_hash, secret_config),
        }

    # ------------------------------------------------------------ objects

    def objects(self, creds):
        s = self.s
        name, namespace, labels = self.name, self.namespace, self.labels
        objects = []
        if s["namespace_create"]:
            objects.append(namespace_object(namespace, pod_security_labels(
                s["pod_security_level"], s["pod_security_version"], s["namespace_labels"])))
        objects.append(secret_object(self.secret_name, namespace, labels, creds["secret_data"]))
        objects.append(configmap_object(name, namespace, labels, {CONFIG_KEY: self.config}))
        objects.append(pvc_object(name, namespace, labels, s["storage_access_mode"], s["storage_class"],
                                  s["storage_size"]))
        if s["network_policy_enabled"]:
            objects.append(network_policy_object(
                name, namespace, labels, self.selector, s["network_policy_ingress_namespace_labels"],
                s["network_policy_ingress_pod_labels"], s["network_policy_extra_from"], client_of=name,
                egress=egress_rules(s)))
        objects.append(service_object(
            name, namespace, labels, self.selector, s["service_port"], s["service_type"],
            server_service_annotations(self.in_cluster_url, self.secret_name, TOKEN_KEY)))
        objects.append(self.deployment(creds))
        if s["ingress_enabled"]:
            objects.append(ingress_object(name, namespace, labels, s["ingress_annotations"], s["ingress_class_name"],
                                          s["ingress_hosts"], s["ingress_tls_secret"], self.url_path))
        if s["route_enabled"]:
            objects.append(self.route())
        return objects

    def deployment(self, creds):
        s = self.s
        resources = deep_merge(s["resources"], {"limits": {s["gpu_resource"]: s["gpu_count"]}}
                               if s["gpu_count"] > 0 else {})
        # RWX volumes can be mounted by the old and the new pod at once; anything
        # else must be released before the new pod starts.
        strategy = ({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
                    if s["storage_access_mode"] == "ReadWriteMany" else {"type": "Recreate"})
        scratch = list(s["scratch_dirs"]) if s["read_only_root_filesystem"] else []
        env = [
            # The Secret's directory first: nothing in the image can override the
            # hashed password, and the ConfigMap wins over image defaults.
            {"name": "JUPYTER_CONFIG_PATH", "value": SECRET_DIR + ":" + CONFIG_DIR},
            # A file, not an env var: kernels inherit the server's environment and
            # a printed os.environ would put the token into a notebook.
            {"name": "JUPYTER_TOKEN_FILE", "value": SECRET_DIR + "/" + TOKEN_KEY},
            {"name": "JUPYTER_RUNTIME_DIR", "value": "/tmp/jupyter-runtime"},
            # JupyterLab's settings and workspaces survive restarts on the PVC.
            {"name": "JUPYTERLAB_SETTINGS_DIR", "value": s["root_dir"] + "/.jupyter/lab/user-settings"},
            {"name": "JUPYTERLAB_WORKSPACES_DIR", "value": s["root_dir"] + "/.jupyter/lab/workspaces"},
        ]
        mounts = [
            {"name": "notebooks", "mountPath": s["root_dir"]},
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "secret", "mountPath": SECRET_DIR, "readOnly": True},
        ] + [{"name": "scratch-%d" % i, "mountPath": path} for i, path in enumerate(scratch)]
        container = self.main_container(env, self.url_path + "api", resources, mounts)
        pod = {
            # Kernels run users' code: they get no Kubernetes API credentials.
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": s["termination_grace_period"],
            "securityContext": pod_security_context(s["uid"], s["gid"]),
        }
        pod.update(pod_scheduling(s["image_pull_secrets"], s["node_selector"], s["tolerations"], s["affinity"],
                                  s["priority_class_name"]))
        pod["containers"] = [container]
        pod["volumes"] = [
            {"name": "notebooks", "persistentVolumeClaim": {"claimName": self.name}},
            {"name": "config", "configMap": {"name": self.name, "items": [{"key": CONFIG_KEY, "path": CONFIG_KEY}]}},
            {"name": "secret", "secret": {
                "secretName": self.secret_name,
                "defaultMode": 0o440,  # readable by the fsGroup, not by others
                "items": [{"key": TOKEN_KEY, "path": TOKEN_KEY}, {"key": SECRET_CONFIG_KEY, "path": SECRET_CONFIG_KEY}],
            }},
        ] + [{"name": "scratch-%d" % i, "emptyDir": {"sizeLimit": str(s["scratch_size_limit"])}}
             for i, _path in enumerate(scratch)]
        # A change of the config or of the Secret rolls the pod; nothing else does.
        annotations = {CONFIG_CHECKSUM_ANNOTATION: config_checksum(self.config),
                       SECRET_CHECKSUM_ANNOTATION: creds["checksum"]}
        return deployment_object(self.name, self.namespace, self.labels, self.selector, s["replicas"], strategy,
                                 self.labels, annotations, pod)

    def route(self):
        s = self.s
        spec = {
            "host": s["route_host"], "path": self.url_path,
            "to": {"kind": "Service", "name": self.name, "weight": 100},
            "port": {"targetPort": "http"},
        }
        if s["route_tls_termination"]:
            spec["tls"] = {"termination": s["route_tls_termination"], "insecureEdgeTerminationPolicy": "Redirect"}
        return {"apiVersion": "route.openshift.io/v1", "kind": "Route",
                "metadata": metadata(self.name, self.namespace, self.labels), "spec": spec}

    def optional_kinds(self):
        return [("route.openshift.io/v1", "Route", self.s["route_enabled"])] + super().optional_kinds()

    def removable(self):
        return [("route.openshift.io/v1", "Route")] + super().removable()

    @property
    def external_url(self):
        s = self.s
        url = super().external_url
        if not url and s["route_enabled"] and s["route_host"]:
            url = "%s://%s%s" % ("https" if s["route_tls_termination"] else "http", s["route_host"], self.url_path)
        return url

    # ------------------------------------------------------------ how to connect

    def connection(self, creds):
        return {
            "name": self.name,
            "namespace": self.namespace,
            "in_cluster_url": self.in_cluster_url,
            "external_url": self.external_url,
            "secret_name": self.secret_name,
            "token_key": TOKEN_KEY,
            "client_label": CLIENT_LABEL,
            "password_login": bool(creds["password_hash"]),
        }

    # ------------------------------------------------------------ status

    def probe_url(self, service):
        """Where the controller reaches the server: jupyter_server_status_url, the
        external URL, else the Service's cluster IP (works on the cluster's nodes)."""
        s = self.s
        if s["status_url"] or self.external_url:
            return s["status_url"] or self.external_url
        cluster_ip = ((service or {}).get("spec") or {}).get("clusterIP", "")
        return "http://%s:%s%s" % (cluster_ip, s["service_port"], self.url_path)

    def probe(self, url, secret):
        """version, kernelspecs, kernels (and an execution) from the server, or 'error'."""
        # Only the status entry point talks to the server: the converge path does
        # not pay for importing the HTTP client.
        from ansible_collections.remotedev.jupyter.plugins.module_utils._server_info import (
            JupyterServerClient,
            ServerInfoError,
            probe,
        )

        s = self.s
        execute = {"code": s["status_code"], "timeout": 60} if s["status_code"] else None
        try:
            client = JupyterServerClient(url, token=secret.get(TOKEN_KEY), validate_certs=s["status_validate_certs"])
            info = probe(client, execute)
        except ServerInfoError as exc:
            return {"error": str(exc)}
        info["kernelspecs"] = list(info["kernelspecs"])
        execution = info.get("execution")
        if execution:
            info["execution"] = {k: execution.get(k, "") for k in ("status", "stdout", "ename", "evalue")}
        return info

    def status_lines(self, report):
        d = report["deployment"]
        pods = ", ".join("%s %s restarts=%s" % (p["name"], p["phase"], p["restarts"]) for p in report["pods"])
        lines = [
            "%s %s/%s" % (self.what, self.namespace, self.name),
            "Deployment: %s/%s ready, image %s" % (d["ready"], d["replicas"], d["image"]),
            "Pods: " + (pods or "none"),
        ]
        if report.get("version"):
            lines.append("Server: %s, kernelspecs %s (default %s), %d running kernel(s)" % (
                report["version"], ", ".join(report["kernelspecs"]), report["default_kernel"], len(report["kernels"])))
        else:
            lines.append("Server: not reachable from here: %s (set %s, e.g. after kubectl port-forward)"
                         % (report.get("error", "unknown error"), self.s.var("status_url")))
        execution = report.get("execution")
        if execution:
            line = "Execution: %s %s" % (execution["status"], (execution["stdout"] or "").strip())
            if execution["ename"]:
                line += " %s: %s" % (execution["ename"], execution["evalue"])
            lines.append(line)
        return lines

    def summary(self, creds):
        s = self.s
        local = "http://127.0.0.1:8888" + self.url_path
        external = self.external_url
        if s["show_token"]:
            token = "Token: " + creds["token"]
        else:
            token = ("Token: kubectl -n %s get secret %s -o jsonpath='{.data.%s}' | base64 -d   "
                     "(or re-run with -e %s=true)" % (self.namespace, self.secret_name, TOKEN_KEY, s.var("show_token")))
        return [
            "%s %s/%s" % (self.what, self.namespace, self.name),
            "In the cluster: " + self.in_cluster_url,
            ("From outside: " + external) if external else (
                "From your machine: kubectl -n %s port-forward svc/%s 8888:%s, then %s"
                % (self.namespace, self.name, s["service_port"], local)),
            "Local VS Code: Select Kernel > Existing Jupyter Server > paste %s?token=<token>" % (external or local),
            token,
            "Browser login: " + ("password or token" if creds["password_hash"] else "token (no password set)"),
        ]
