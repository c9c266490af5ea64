# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Jupyter Server component (PRIVATE, no public API): the objects of one
shared server instance, from the jupyter_server role's variables."""

from __future__ import annotations

import base64
import json
import re

from ansible_collections.remotedev.jupyter.plugins.module_utils._deploy_common import (
    CHECKSUM_KEY,
    CLIENT_LABEL,
    CONFIG_CHECKSUM_ANNOTATION,
    SECRET_CHECKSUM_ANNOTATION,
    DNS_SUBDOMAIN,
    check_each,
    check_names,
    check_optional_name,
    configmap_object,
    deep_merge,
    deployment_object,
    egress_rules,
    ingress_annotations,
    ingress_object,
    keyed_checksum,
    metadata,
    namespace_object,
    network_policy_object,
    pod_scheduling,
    pod_security_context,
    pod_security_labels,
    pvc_object,
    scanner_skips,
    secret_object,
    server_service_annotations,
    service_object,
    url_path,
)
from ansible_collections.remotedev.jupyter.plugins.module_utils._deploy_component import (
    TOKEN_ALPHABET,
    Component,
    PreflightError,
    checksum_key,
    generate_secret,
)
from ansible_collections.remotedev.jupyter.plugins.module_utils._k8s_values import label_key_problem, labels_problems
from ansible_collections.remotedev.jupyter.plugins.module_utils import _deploy_pod_kernels as pod_kernels
from ansible_collections.remotedev.jupyter.plugins.module_utils._password import (
    MIN_PASSWORD_LENGTH,
    hash_problem,
    rehash_unless_matching,
)
from ansible_collections.remotedev.jupyter.plugins.module_utils._server_config import (
    SettingsError,
    insecure_findings,
    secret_traits_in,
    prepare_settings,
    render,
    checksum as config_checksum,
)
from ansible_collections.remotedev.jupyter.plugins.module_utils._server_config_schema import CLASSES
from ansible_collections.remotedev.jupyter.plugins.module_utils._users import (
    USERS_FILE_KEY,
    kernels_by_user,
    resolve_users,
    user_status_lines,
    user_summary,
    users_problems,
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
USERS_DIR = "/etc/jupyter-users"
# The remotedev_users extension's classes (in the image, roles/image/files/remotedev_users).
USERS_PROVIDER = "UsersIdentityProvider"
SECRET_CONFIG_KEY = "jupyter_server_config.json"

# Traits jupyter_server_settings may not set because the manifests are built
# from them. Secrets are refused too, by the collection's one list of them
# (_server_config.SECRET_TRAITS): they would end up in the ConfigMap.
RESERVED_TRAITS = {
    "ServerApp": ["ip", "port", "base_url", "root_dir", "notebook_dir"],
    "NotebookApp": ["ip", "port", "base_url", "root_dir", "notebook_dir"],
}
# Set by the component; overriding them would drop the Secret's settings or the token file.
RESERVED_ENV = ("JUPYTER_CONFIG_PATH", "JUPYTER_TOKEN_FILE")
ANY_ORIGIN_PATTERNS = (".*", "^.*$", ".+", "^.+$", ".*$", "^.*")
POD_SECURITY_VERSION = re.compile(r"^(latest|v1\.[0-9]{1,3})$")
# jupyter_client's kernelspec names (KernelSpecManager's _kernel_name_pat).
KERNEL_NAME = re.compile(r"^[a-z0-9._-]+$", re.IGNORECASE)


class JupyterServer(Component):
    prefix = "jupyter_server"
    app = "jupyter-server"
    component = "server"
    container = "jupyter-server"
    what = "Jupyter Server"
    data_volume = "notebooks"
    single_replica_reason = " (kernels live in one process)"
    reserved_env = RESERVED_ENV

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
        problems.in_range("websocket_ping_interval", 0, 3600, " seconds (0: no pings)")
        problems.in_range("token_length", MIN_TOKEN_LENGTH, 256)
        problems.min_length("token", MIN_TOKEN_LENGTH, "token", "one is generated once and kept")
        problems.min_length("password", MIN_PASSWORD_LENGTH, "password", "token login only")
        # An explicit token is the inventory's: a regenerated one would be set back
        # by the next deploy, so rotating it means changing it there.
        problems.check(not (s["regenerate_token"] and s["token"]),
                       "%s (rotate_token=true) cannot replace %s, which is set explicitly: the next deploy would put "
                       "the old one back. Change %s in the inventory (vault) and run the deploy, or remove it there "
                       "so that a generated token is kept in the cluster."
                       % (s.var("regenerate_token"), s.var("token"), s.var("token")))
        for name in ("default_kernel", "status_kernel"):
            problems.check(not s[name] or bool(KERNEL_NAME.fullmatch(s[name])),
                           "%s must be a kernelspec name (letters, digits, '.', '_', '-'; got %s)."
                           % (s.var(name), json.dumps(s[name])))
        problems.check(not re.search(r"[^\x21-\x7e]", s["token"]),
                       "%s holds whitespace, control or non-ASCII characters: it travels in URLs and headers."
                       % s.var("token"))
        if s["password_hash"]:
            reason = hash_problem(s["password_hash"], "jupyter")
            problems.check(not reason, "%s is not a hash jupyter_server accepts: %s (the value is not shown). "
                                       "Make one with remotedev.jupyter.password_hash, or set %s instead; an invalid "
                                       "hash would silently turn password login off."
                           % (s.var("password_hash"), reason, s.var("password")))
        self.check_settings(problems)
        for message in users_problems(s["users"], s.var("users")):
            problems.add(message)
        check_each(problems, s, "namespace_labels", labels_problems(s["namespace_labels"]))
        problems.check(bool(POD_SECURITY_VERSION.fullmatch(s["pod_security_version"])),
                       "%s must be latest or v1.<minor> (got %s)."
                       % (s.var("pod_security_version"), json.dumps(s["pod_security_version"])))
        problems.in_range("termination_grace_period", 0, 86400)
        reason = label_key_problem(s["gpu_resource"])
        problems.check(not reason and "/" in s["gpu_resource"],
                       "%s must be an extended resource name, domain/name (got %s)."
                       % (s.var("gpu_resource"), json.dumps(s["gpu_resource"])))
        check_optional_name(problems, s, "priority_class_name")
        # An origin goes into the Access-Control-Allow-Origin header as given.
        problems.check(not re.search(r"[\s\x00-\x1f,]", s["allow_origin"]),
                       "%s must be one origin (scheme://host[:port]) or '*', without blanks or commas (got %s)."
                       % (s.var("allow_origin"), json.dumps(s["allow_origin"])))
        problems.check(s["default_url"].startswith("/") and not re.search(r"\s", s["default_url"]),
                       "%s must be a path starting with '/' (got %s)." % (s.var("default_url"), json.dumps(s["default_url"])))
        relative = [(s.var(n), s[n]) for n in ("root_dir", "home") if not s[n].startswith("/")]
        relative += [("%s[%d]" % (s.var("scratch_dirs"), i), p) for i, p in enumerate(s["scratch_dirs"])
                     if not p.startswith("/")]
        problems.check(not relative, "%s must be absolute paths: got %s."
                       % (", ".join(n for n, _p in relative), ", ".join(json.dumps(p) for _n, p in relative)))
        problems.check(not any(c in self.url_path for c in "?# \t"),
                       "%s must be a URL path, without '?', '#' or blanks (got %s)."
                       % (s.var("base_url"), json.dumps(s["base_url"])))
        if s["route_enabled"]:
            problems.check(bool(DNS_SUBDOMAIN.fullmatch(s["route_host"] or "")),
                           "%s needs %s, a DNS name (got %s)."
                           % (s.var("route_enabled"), s.var("route_host"), json.dumps(s["route_host"])))
        for message in pod_kernels.kernel_problems(s, KERNEL_NAME):
            problems.add(message)
        self.warnings.extend(w for w in pod_kernels.kernel_warnings(s) if w not in self.warnings)
        if s["state"] == "present":
            try:
                self.config  # validated against jupyter_server's traits here, before any change
            except SettingsError as exc:
                problems.add("%s: %s%s" % (s.var("settings"), exc, "" if str(exc).endswith(".") else "."))

    def check_settings(self, problems):
        """jupyter_server_settings: no secret, nothing the manifests are built from,
        no jupyter_server class among the extra classes, no open door without consent."""
        s = self.s
        settings = s["settings"]
        secret = secret_traits_in(settings)
        problems.check(not secret, (
            "%s sets %s: secrets do not belong in plain settings (they are written into a ConfigMap that anyone "
            "who may read ConfigMaps can read); they belong in the Secret: use %s, %s or %s for the server's own, "
            "and %s with valueFrom.secretKeyRef for the others that read an environment variable (e.g. "
            "JUPYTER_GATEWAY_AUTH_TOKEN)."
            % (s.var("settings"), ", ".join(secret), s.var("token"), s.var("password"), s.var("password_hash"),
               s.var("env"))))
        for class_name, traits in sorted(RESERVED_TRAITS.items()):
            given = settings.get(class_name)
            clash = [t for t in traits if isinstance(given, dict) and t in given]
            problems.check(not clash, (
                "%s.%s sets %s: ip, port, base_url and root_dir must match the manifests (use %s, %s, %s)."
                % (s.var("settings"), class_name, ", ".join(clash), s.var("port"), s.var("base_url"),
                   s.var("root_dir"))))
        known = [c for c in s["settings_extra_classes"] if c in CLASSES or c == "NotebookApp"]
        problems.check(not known, (
            "%s lists %s, a class of jupyter_server: its traits would be written without any type check. List only "
            "classes of server extensions (LabApp, ...)." % (s.var("settings_extra_classes"), ", ".join(known))))
        server = deep_merge(self.role_settings(), settings if isinstance(settings, dict) else {}).get("ServerApp", {})
        any_origin = server.get("allow_origin") == "*" or server.get("allow_origin_pat") in ANY_ORIGIN_PATTERNS
        if server.get("disable_check_xsrf") is True and any_origin:
            problems.check(s["insecure_cors_acknowledged"], (
                "%s turns XSRF checks off (ServerApp.disable_check_xsrf) while any origin is allowed (%s '*' or "
                "ServerApp.allow_origin_pat): any web page a user opens could run code on the server with their "
                "login. Allow only the origins you need, or set %s to true to accept this."
                % (s.var("settings"), s.var("allow_origin"), s.var("insecure_cors_acknowledged"))))
        if s["state"] == "present":
            try:
                self.warnings.extend("%s: insecure setting: %s" % (s.var("settings"), finding)
                                     for finding in insecure_findings(self.config_settings))
            except SettingsError:
                pass  # reported by check() with the config

    # ------------------------------------------------------------ preflight

    def missing_namespace_message(self):
        return ("Namespace %s does not exist and %s is false. Create it first or let the role create it. "
                "Nothing was changed." % (self.namespace, self.s.var("namespace_create")))

    @property
    def users_secret_name(self):
        return self.name + "-users"

    def preflight(self, client, check_mode):
        super().preflight(client, check_mode)
        s = self.s
        self.facts["users_secret"] = {}
        self.facts["pod_kernels_found"] = self.facts["namespace_exists"] and client.get(
            "v1", "ConfigMap", pod_kernels.kernels_configmap_name(self.name), self.namespace) is not None
        if self.facts["namespace_exists"]:
            secret = client.get("v1", "Secret", self.users_secret_name, self.namespace)
            self.facts["users_secret"] = {k: base64.b64decode(v).decode("utf-8")
                                          for k, v in ((secret or {}).get("data") or {}).items()}
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
        settings = {
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
                # Jupyter's own pings (its websocket handlers' mixin; milliseconds).
                "tornado_settings": {"ws_ping_interval": s["websocket_ping_interval"] * 1000},
            },
            # Passwords are managed by the inventory (rotate_password); logging in
            # with the token must not let anyone set another one inside the pod.
            "PasswordIdentityProvider": {"allow_password_change": False},
            "KernelManager": {"transport": s["kernel_transport"]},
            "MappingKernelManager": {
                # The image's own default is hidden by the ConfigMap mounted over
                # /etc/jupyter, so the role sets it (from image_default_kernel by default).
                **({"default_kernel_name": s["default_kernel"]} if s["default_kernel"] else {}),
                "cull_idle_timeout": s["cull_idle_timeout"],
                "cull_interval": s["cull_interval"],
                "cull_connected": s["cull_connected"],
                "cull_busy": s["cull_busy"],
            },
        }
        if pod_kernels.enabled(s):
            settings["ServerApp"]["jpserver_extensions"] = {pod_kernels.CLEANUP_EXTENSION: True}
        if s["users"]:
            # Only whether there are users is in the config: who they are is in
            # the users Secret, so changing them leaves the pod alone.
            settings["ServerApp"]["identity_provider_class"] = "remotedev_users." + USERS_PROVIDER
            settings["ServerApp"]["authorizer_class"] = "remotedev_users.RoleAuthorizer"
            settings[USERS_PROVIDER] = {"users_file": USERS_DIR + "/" + USERS_FILE_KEY,
                                        "instance_credentials": s["instance_credentials"]}
        return settings

    @property
    def config_settings(self):
        """The role's settings with jupyter_server_settings merged over them, validated."""
        if not hasattr(self, "_config_settings"):
            self._config_settings, _migrated, _notes = prepare_settings(
                deep_merge(self.role_settings(), self.s["settings"]),
                list(self.s["settings_extra_classes"]) + ([USERS_PROVIDER] if self.s["users"] else []))
        return self._config_settings

    @property
    def config(self):
        """jupyter_server_config.py, validated against jupyter_server's traits."""
        if not hasattr(self, "_config"):
            self._config = render(self.config_settings, "py")
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
            password_hash = rehash_unless_matching(s["password"], "jupyter", s["password_algorithm"], existing_hash)
        else:
            password_hash = s["password_hash"] or existing_hash
        secret_settings, _m, _n = prepare_settings({"PasswordIdentityProvider": {"hashed_password": password_hash}})
        secret_config = render(secret_settings, "json")
        key = checksum_key(existing)
        users_data = (resolve_users(s["users"], self.facts.get("users_secret") or {}, "argon2",
                                    lambda: generate_secret(s["token_length"], TOKEN_ALPHABET))
                      if s["users"] else None)
        return {
            "users_data": users_data,
            "token": token,
            "password_hash": password_hash,
            "secret_data": {TOKEN_KEY: token, HASH_KEY: password_hash, SECRET_CONFIG_KEY: secret_config,
                            CHECKSUM_KEY: key},
            "checksum": keyed_checksum(key, token, password_hash, secret_config),
        }

    # ------------------------------------------------------------ objects

    def objects(self, creds):
        s = self.s
        name, namespace, labels = self.name, self.namespace, self.labels
        objects = []
        if s["namespace_create"]:
            objects.append(namespace_object(namespace, pod_security_labels(
                s["pod_security_level"], s["pod_security_version"], s["namespace_labels"])))
        if self.pull_secret() is not None:
            objects.append(self.pull_secret())
        objects.append(secret_object(self.secret_name, namespace, labels, creds["secret_data"]))
        if creds.get("users_data") is not None:
            objects.append(secret_object(self.users_secret_name, namespace, labels, creds["users_data"]))
        objects.append(configmap_object(name, namespace, labels, {CONFIG_KEY: self.config}))
        if pod_kernels.enabled(s):
            objects.extend(pod_kernels.rbac_objects(name, namespace, labels))
            objects.append(pod_kernels.kernels_configmap(self))
        objects.append(pvc_object(name, namespace, labels, s["storage_access_mode"], s["storage_class"],
                                  s["storage_size"]))
        if s["network_policy_enabled"]:
            policy = network_policy_object(
                name, namespace, labels, self.selector, s["network_policy_ingress_namespace_labels"],
                s["network_policy_ingress_pod_labels"], s["network_policy_extra_from"], client_of=name,
                egress=egress_rules(s))
            if pod_kernels.enabled(s):
                objects.append(pod_kernels.extend_server_network_policy(self, policy))
                objects.append(pod_kernels.kernel_network_policy(self, egress_rules(s)))
            else:
                objects.append(policy)
        objects.append(service_object(
            name, namespace, labels, self.selector, s["service_port"], s["service_type"],
            server_service_annotations(self.in_cluster_url, self.secret_name, TOKEN_KEY)))
        objects.append(self.deployment(creds))
        if s["ingress_enabled"]:
            annotations = ingress_annotations(s["ingress_class_annotations"], s["ingress_class_name"], s["ingress_annotations"])
            objects.append(ingress_object(name, namespace, labels, annotations, s["ingress_class_name"],
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
        ] + (pod_kernels.server_env(self) if pod_kernels.enabled(s) else [])
        mounts = [
            {"name": "notebooks", "mountPath": s["root_dir"]},
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "secret", "mountPath": SECRET_DIR, "readOnly": True},
        ] + [{"name": "scratch-%d" % i, "mountPath": path} for i, path in enumerate(scratch)]
        if s["users"]:
            mounts.append({"name": "users", "mountPath": USERS_DIR, "readOnly": True})
        if pod_kernels.enabled(s):
            mounts.append({"name": "kernels", "mountPath": pod_kernels.KERNELS_DIR, "readOnly": True})
        container = self.main_container(env, self.url_path + "api", resources, mounts)
        pod = {
            # Kernels run users' code: they get no Kubernetes API credentials,
            # unless the server starts kernel pods (its ServiceAccount's Role:
            # pods in this namespace only).
            "automountServiceAccountToken": pod_kernels.enabled(s),
            **({"serviceAccountName": self.name} if pod_kernels.enabled(s) else {}),
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": s["termination_grace_period"],
            "securityContext": pod_security_context(s["uid"], s["gid"]),
        }
        pod.update(pod_scheduling(self.pull_secret_names, s["node_selector"], s["tolerations"], s["affinity"],
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
        if s["users"]:
            # Only the users file: the tokens kept in the Secret stay out of the pod.
            pod["volumes"].append({"name": "users", "secret": {
                "secretName": self.users_secret_name, "defaultMode": 0o440,
                "items": [{"key": USERS_FILE_KEY, "path": USERS_FILE_KEY}]}})
        if pod_kernels.enabled(s):
            pod["volumes"].append(pod_kernels.kernels_volume(self))
        # A change of the config or of the Secret rolls the pod; nothing else does.
        annotations = {CONFIG_CHECKSUM_ANNOTATION: config_checksum(self.config),
                       SECRET_CHECKSUM_ANNOTATION: creds["checksum"]}
        return deployment_object(self.name, self.namespace, self.labels, self.selector, s["replicas"], strategy,
                                 self.labels, annotations, pod,
                                 dict(scanner_skips(s["uid"], s.var("uid")),
                                      **(pod_kernels.scanner_skips() if pod_kernels.enabled(s) else {})))

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

    def optional_named(self):
        s = self.s
        kernels = pod_kernels.enabled(s)
        extra = pod_kernels.kernels_configmap_name(self.name)
        named = [("v1", "Secret", self.users_secret_name, bool(s["users"]))]
        # The pod kernels' objects are looked for only when they are wanted or were
        # (their ConfigMap, removed last, is there): a deploy identity without
        # rights on ServiceAccounts and Roles keeps working without pod kernels.
        if kernels or self.facts.get("pod_kernels_found", True):
            named += [
                ("rbac.authorization.k8s.io/v1", "RoleBinding", extra, kernels),
                ("rbac.authorization.k8s.io/v1", "Role", extra, kernels),
                ("v1", "ServiceAccount", self.name, kernels),
                ("networking.k8s.io/v1", "NetworkPolicy", extra, kernels and s["network_policy_enabled"]),
                ("v1", "ConfigMap", extra, kernels),
            ]
        return named + super().optional_named()

    def removable(self):
        return [("route.openshift.io/v1", "Route")] + super().removable()

    def leftover_pod_labels(self):
        # Kernel pods (jupyter_server_pod_kernels) a killed server did not shut down.
        return [pod_kernels.kernel_selector(self.instance)]

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
            **self.connection_base(),
            "secret_name": self.secret_name,
            "token_key": TOKEN_KEY,
            "client_label": CLIENT_LABEL,
            "password_login": bool(creds["password_hash"]),
            "users_secret_name": self.users_secret_name if self.s["users"] else "",
            "users": [{"name": u["name"], "role": u.get("role") or "user"} for u in self.s["users"]],
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

    def probe(self, url, secret, check_mode=False):
        """version, kernelspecs, kernels (and an execution) from the server, or 'error'.
        In check mode jupyter_server_status_code is not run (it may change anything)."""
        # Only the status entry point talks to the server: the converge path does
        # not pay for importing the HTTP client.
        from ansible_collections.remotedev.jupyter.plugins.module_utils._kernel_execute import (
            resolve_kernel,
            run_in_new_kernel,
        )
        from ansible_collections.remotedev.jupyter.plugins.module_utils._server_info import (
            JupyterServerClient,
            ServerInfoError,
            probe,
        )

        s = self.s
        try:
            client = JupyterServerClient(url, token=secret.get(TOKEN_KEY), validate_certs=s["status_validate_certs"])
            info = probe(client)
            if s["status_code"] and not check_mode:
                kernel = resolve_kernel(s["status_kernel"] or None, info["default_kernel"], info["kernelspecs"],
                                        client.shown_url)
                execution = run_in_new_kernel(client, kernel, s["status_code"], 60)
                info["execution"] = {k: execution.get(k, "") for k in ("status", "stdout", "ename", "evalue")}
                info["execution"]["kernel"] = kernel
        except ServerInfoError as exc:
            return {"error": str(exc)}
        info["kernelspecs"] = list(info["kernelspecs"])
        if s["users"] or any(k.get("remotedev_user") for k in info["kernels"]):
            # Who runs what: the extension names each kernel's user (remotedev_user).
            info["users"] = kernels_by_user(info["kernels"], [u["name"] for u in s["users"]])
        return info

    def status_lines(self, report):
        d = report["deployment"]
        pods = ", ".join("%s %s restarts=%s" % (p["name"], p["phase"], p["restarts"]) for p in report["pods"])
        lines = [
            "%s %s/%s" % (self.what, self.namespace, self.name),
            "Deployment: %s/%s ready, image %s" % (d["ready"], d["replicas"], d["image"]),
            "Pods: " + (pods or "none"),
        ]
        if self.external_url:
            lines.append("From outside: " + self.external_url)
        if report.get("version"):
            lines.append("Server: %s, kernelspecs %s (default %s), %d running kernel(s)" % (
                report["version"], ", ".join(report["kernelspecs"]), report["default_kernel"], len(report["kernels"])))
        else:
            lines.append("Server: not reachable from here: %s (set %s, e.g. after kubectl port-forward)"
                         % (report.get("error", "unknown error"), self.s.var("status_url")))
        lines += user_status_lines(report.get("users") or [])
        execution = report.get("execution")
        if execution:
            line = "Execution on kernel %s: %s %s" % (execution.get("kernel", "?"), execution["status"],
                                                      (execution["stdout"] or "").strip())
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
            token = ("Token: %s get secret %s -o jsonpath='{.data.%s}' | base64 -d   "
                     "(or re-run with -e %s=true)" % (self.kubectl, self.secret_name, TOKEN_KEY, s.var("show_token")))
        return [
            "%s %s/%s" % (self.what, self.namespace, self.name),
            "In the cluster: " + self.in_cluster_url,
            ("From outside: " + external) if external else (
                "From your machine: %s port-forward svc/%s 8888:%s, then %s"
                % (self.kubectl, self.name, s["service_port"], local)),
            "Local VS Code: Select Kernel > Existing Jupyter Server > paste %s?token=<token>" % (external or local),
            token,
            "Browser login: " + ("password or token" if creds["password_hash"] else "token (no password set)"),
        ] + ([
            "Users: " + user_summary(s["users"]) + ("" if s["instance_credentials"] else "; instance token and password off"),
            "A user's token: %s get secret %s -o jsonpath='{.data.token-<name>}' | base64 -d"
            % (self.kubectl, self.users_secret_name),
        ] if s["users"] else [])
