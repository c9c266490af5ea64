# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The code-server component (PRIVATE, no public API): code-server next to a
Jupyter Server, connected to it through the server's client contract."""

from __future__ import annotations

import hashlib
import json
import os
import re


from ansible_collections.remotedev.jupyter.plugins.module_utils._deploy_common import (
    CHECKSUM_KEY,
    CONFIG_CHECKSUM_ANNOTATION,
    Settings,
    SECRET_CHECKSUM_ANNOTATION,
    DNS_SUBDOMAIN,
    check_each,
    JUPYTER_APP,
    check_names,
    client_pod_labels,
    container_security_context,
    deployment_object,
    egress_rules,
    ingress_annotations,
    ingress_object,
    keyed_checksum,
    network_policy_object,
    pod_scheduling,
    pod_security_context,
    pvc_object,
    scanner_skips,
    read_server_service_annotations,
    secret_object,
    service_object,
    to_yaml,
)
from ansible_collections.remotedev.jupyter.plugins.module_utils._deploy_component import (
    PASSWORD_ALPHABET,
    Component,
    PreflightError,
    checksum_key,
    generate_secret,
)
from ansible_collections.remotedev.jupyter.plugins.module_utils._k8s_values import extension_problem
from ansible_collections.remotedev.jupyter.plugins.module_utils._password import (
    MIN_PASSWORD_LENGTH,
    hash_problem,
    rehash_unless_matching,
)
from ansible_collections.remotedev.jupyter.plugins.module_utils._users import TOKEN_KEY_PREFIX

# code-server takes its hashed password from $HASHED_PASSWORD or its config
# file only: the whole config file is kept in the Secret and mounted, so that
# no secret is in the environment every process and extension inherits.
CONFIG_DIR = "/etc/code-server"
CONFIG_KEY = "config.yaml"
# The Jupyter Server's token, mounted from its Secret; JUPYTER_TOKEN_FILE names it.
JUPYTER_TOKEN_DIR = "/etc/jupyter-server"
JUPYTER_TOKEN_PATH = "token"
JUPYTER_TOKEN_FILE = JUPYTER_TOKEN_DIR + "/" + JUPYTER_TOKEN_PATH
# Secret volumes: readable by the pod's fsGroup (the files belong to root), not by others.
SECRET_FILE_MODE = 0o440
HASH_KEY = "hashed-password"
PASSWORD_KEY = "password"
HTTP_URL = re.compile(r"^https?://\S+/$")
SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")
# A user's code-server is NAME-<user>: the user name must fit an object name
# (jupyter_server_users allows '.' and '_' too, which Services do not).
USER_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
USER_LABEL = "remotedev.jupyter/user"
MAX_LABEL = 63


def user_entry_problems(users, var, name, instance, connected):
    """Messages naming var[index] (and the user) for every bad code_server_users entry; never a credential."""
    problems, seen = [], set()
    if users and not connected:
        problems.append("%s needs a Jupyter Server to connect to (code_server_jupyter_name is empty): each user's "
                        "code-server uses that user's token of it." % var)
    for index, entry in enumerate(users):
        user = entry.get("name")
        where = "%s[%d]" % (var, index)
        if not isinstance(user, str) or not USER_NAME.fullmatch(user):
            problems.append("%s.name must be a user of jupyter_server_users whose name has only lower case letters, "
                            "digits and '-' (it becomes part of object names), got %s." % (where, json.dumps(user)))
            continue
        where = "%s[%d] (%s)" % (var, index, user)
        if user in seen:
            problems.append("%s: the name appears twice." % where)
        seen.add(user)
        longest = max(len(name), len(instance)) + 1 + len(user)
        if longest > MAX_LABEL:
            problems.append("%s: %s-%s and %s-%s must be at most %d characters (shorten the name or %s)."
                            % (where, name, user, instance, user, MAX_LABEL, "code_server_name/code_server_instance"))
        password, password_hash = entry.get("password") or "", entry.get("password_hash") or ""
        if password and len(password) < MIN_PASSWORD_LENGTH:
            problems.append("%s.password is %d characters long: it must have at least %d (or leave it out: one is "
                            "generated once and kept)." % (where, len(password), MIN_PASSWORD_LENGTH))
        if password and password_hash:
            problems.append("%s sets both password and password_hash: set one." % where)
        if password_hash:
            reason = hash_problem(password_hash, "code_server")
            if reason:
                problems.append("%s.password_hash is not a hash code-server accepts: %s (the value is not shown)."
                                % (where, reason))
        hosts = entry.get("ingress_hosts") or []
        bad_hosts = [h for h in hosts if not DNS_SUBDOMAIN.fullmatch(h or "")]
        if bad_hosts:
            problems.append("%s.ingress_hosts must be DNS names, got %s." % (where, json.dumps(bad_hosts)))
    return problems


def user_values(values, entry):
    """The settings of one user's code-server, derived from the shared one's:
    its own name, instance label, Secret (password), volume and ingress hosts;
    connected with the user's token (key token-<user> of the Jupyter Server's
    users Secret), mounted as a file like the instance token."""
    user = entry["name"]
    hosts = list(entry.get("ingress_hosts") or [])
    derived = dict(values)
    derived.update({
        "user": user,
        "users": [],
        "name": "%s-%s" % (values["name"], user),
        "instance": "%s-%s" % (values["instance"], user),
        "labels": dict(values["labels"], **{USER_LABEL: user}),
        "jupyter_secret_name": values["jupyter_name"] + "-users",
        "jupyter_token_key": TOKEN_KEY_PREFIX + user,
        "password": entry.get("password") or "",
        "password_hash": entry.get("password_hash") or "",
        "ingress_hosts": hosts,
        "ingress_enabled": bool(values["ingress_enabled"] and hosts),
        "state": "absent" if values["state"] == "absent" else (entry.get("state") or "present"),
    })
    if values["render_dest"]:
        root, ext = os.path.splitext(values["render_dest"])
        derived["render_dest"] = "%s-%s%s" % (root, user, ext or ".yaml")
    return derived


class CodeServer(Component):
    prefix = "code_server"
    app = "code-server"
    component = "workspace"
    container = "code-server"
    what = "code-server"
    data_volume = "home"
    single_replica_reason = " (one home volume)"
    reserved_env = ("CODE_SERVER_CONFIG", "HASHED_PASSWORD", "JUPYTER_SERVER_URL", "JUPYTER_TOKEN_FILE")

    def __init__(self, settings):
        super().__init__(settings)
        self.jupyter_name = settings["jupyter_name"]
        self.connected = bool(self.jupyter_name)
        self.data_dir = settings["home"] + "/.local/share/code-server"
        # The per-user instances (code_server_users) carry their user; the shared one has "".
        self.user = settings.get("user") or ""
        self.users = settings.get("users") or []

    # ------------------------------------------------------------ validation

    def check(self, problems):
        s = self.s
        check_names(problems, s, ["name"], extra_names=["jupyter_name"])
        super().check(problems)
        problems.in_range("password_length", 12, 256)
        problems.min_length("password", MIN_PASSWORD_LENGTH, "password",
                            "one is generated once and kept, unless %s is given" % s.var("password_hash"))
        problems.check(s["home"].startswith("/"), "%s must be an absolute path (got %s)."
                       % (s.var("home"), json.dumps(s["home"])))
        problems.check(not s["jupyter_url"] or HTTP_URL.fullmatch(s["jupyter_url"]),
                       "%s must be an http(s) URL ending in '/' (got %s)."
                       % (s.var("jupyter_url"), json.dumps(s["jupyter_url"])))
        problems.check(not s["jupyter_secret_name"] or DNS_SUBDOMAIN.fullmatch(s["jupyter_secret_name"]),
                       "%s must be a Secret name (got %s)."
                       % (s.var("jupyter_secret_name"), json.dumps(s["jupyter_secret_name"])))
        problems.check(not (s["render_only"] and self.connected) or (s["jupyter_url"] and s["jupyter_secret_name"]),
                       "With %s there is no cluster to read %s and %s from: give both, or set %s to \"\" for no "
                       "connection." % (s.var("render_only"), s.var("jupyter_url"), s.var("jupyter_secret_name"),
                                        s.var("jupyter_name")))
        problems.check(bool(SECRET_KEY.fullmatch(s["jupyter_token_key"])),
                       "%s must be a Secret key (letters, digits, '-', '_' and '.'; got %s)."
                       % (s.var("jupyter_token_key"), json.dumps(s["jupyter_token_key"])))
        if s["password_hash"]:
            reason = hash_problem(s["password_hash"], "code_server")
            problems.check(not reason, "%s is not a hash code-server accepts: %s (the value is not shown). Make one "
                                       "with remotedev.jupyter.password_hash (format=code_server), or set %s instead."
                           % (s.var("password_hash"), reason, s.var("password")))
        # Each extension becomes an argument of code-server's command line: one
        # starting with '-' would be an option (--user-data-dir=...), not an extension.
        check_each(problems, s, "extensions", ["[%d]: %s" % (i, extension_problem(e))
                                               for i, e in enumerate(s["extensions"]) if extension_problem(e)])
        bad_gallery = sorted(k for k, v in s["extensions_gallery"].items() if not isinstance(v, str))
        problems.check(not bad_gallery, "%s: %s must be strings (URLs)." % (s.var("extensions_gallery"),
                                                                            ", ".join(map(str, bad_gallery))))
        for message in user_entry_problems(self.users, s.var("users"), s["name"], s["instance"], self.connected):
            problems.add(message)

    def user_instances(self):
        """One code-server per entry of code_server_users, after this one."""
        return [CodeServer(Settings(self.prefix, user_values(self.s.values, entry))) for entry in self.users]

    # ------------------------------------------------------------ preflight

    def missing_namespace_message(self):
        return ("Namespace %s does not exist. Run the jupyter_server role first (it creates and labels the "
                "namespace) or create it. Nothing was changed." % self.namespace)

    def preflight(self, client, check_mode):
        super().preflight(client, check_mode)
        if self.s["state"] == "present" and self.connected:
            self.facts["jupyter"] = self.find_jupyter_server(client, check_mode)

    def find_jupyter_server(self, client, check_mode=False):
        """URL, token Secret and key of the Jupyter Server: explicit settings win,
        else what the server's Service says (the client contract)."""
        s = self.s
        url, secret_name, token_key = s["jupyter_url"], s["jupyter_secret_name"], s["jupyter_token_key"]
        if not self.facts.get("namespace_exists"):
            return {"url": url, "secret_name": secret_name or self.jupyter_name, "token_key": token_key}
        if not (url and secret_name):
            service = client.get("v1", "Service", self.jupyter_name, self.namespace)
            found_url, found_secret, found_key = read_server_service_annotations(service)
            url = url or found_url
            if not secret_name:
                secret_name, token_key = found_secret, found_key or token_key
        secret = client.get("v1", "Secret", secret_name, self.namespace) if secret_name else None
        token = ((secret or {}).get("data") or {}).get(token_key)
        if (not url or token is None) and check_mode:
            # A preview of a new team: the Jupyter Server's own preview ran just
            # before, as a dry run, so there is nothing to find yet.
            self.warnings.append("Jupyter Server %s is not in namespace %s yet: the preview assumes the one this run "
                                 "would deploy." % (self.jupyter_name, self.namespace))
            return {"url": url, "secret_name": secret_name or self.jupyter_name, "token_key": token_key}
        if url and token is None and self.user:
            raise PreflightError(
                "code_server_users: user %s has no token in Secret %s (key %s): list the user in jupyter_server_users "
                "of the Jupyter Server %s and converge it first. Nothing was changed for this user."
                % (self.user, secret_name, token_key, self.jupyter_name))
        if not url or token is None:
            raise PreflightError(
                "Jupyter Server %s not found in namespace %s (no Service with a remotedev.jupyter/url annotation, "
                "or no Secret %s with key %s). Deploy it first with remotedev.jupyter.jupyter_server, name it in %s, "
                "or set %s to \"\" for a code-server without shared kernels. Nothing was changed."
                % (self.jupyter_name, self.namespace, secret_name or "?", token_key, s.var("jupyter_name"),
                   s.var("jupyter_name")))
        # Not the token: only whether it changed matters (it reaches the pod at start).
        return {"url": url, "secret_name": secret_name, "token_key": token_key,
                "token_digest": hashlib.sha256(token.encode("ascii")).hexdigest()}

    @property
    def jupyter(self):
        s = self.s
        return self.facts.get("jupyter") or {
            "url": s["jupyter_url"], "secret_name": s["jupyter_secret_name"], "token_key": s["jupyter_token_key"]}

    # ------------------------------------------------------------ configuration

    @property
    def config(self):
        s = self.s
        return {
            "bind-addr": "0.0.0.0:%d" % s["port"],
            "auth": "password",
            "cert": False,
            "disable-telemetry": True,
            "disable-update-check": True,
            "user-data-dir": self.data_dir,
            "extensions-dir": self.data_dir + "/extensions",
        }

    # ------------------------------------------------------------ credentials

    def credentials(self, existing):
        """An explicit password (hash kept while it still matches), else a ready
        hash, else the hash in the cluster, else a password generated once. Only
        a generated password is stored in clear (so that it can be shown)."""
        s = self.s
        existing_hash = existing.get(HASH_KEY, "")
        existing_password = existing.get(PASSWORD_KEY, "")
        kept_foreign_hash = bool(existing_hash) and not existing_password
        if s["password"]:
            password, stored = s["password"], False
        elif s["password_hash"] or kept_foreign_hash:
            password, stored = "", False
        else:
            password = existing_password or generate_secret(s["password_length"], PASSWORD_ALPHABET)
            stored = True
        if password:
            password_hash = rehash_unless_matching(password, "code_server", "argon2", existing_hash)
        else:
            password_hash = s["password_hash"] or existing_hash
        config_text = self.config_text(password_hash)
        key = checksum_key(existing)
        data = {HASH_KEY: password_hash}
        if stored:
            data[PASSWORD_KEY] = password
        data[CONFIG_KEY] = config_text
        data[CHECKSUM_KEY] = key
        return {
            "password": password if stored else "",
            "password_hash": password_hash,
            "secret_data": data,
            # The Jupyter extension keeps the token it was given when it connected:
            # a new token rolls the pod, as a new password does, so that every
            # session starts again from the file.
            "checksum": keyed_checksum(key, config_text, self.jupyter.get("token_digest", "")),
        }

    def config_text(self, password_hash):
        """code-server's config file, the hashed password included."""
        return to_yaml(dict(self.config, **{HASH_KEY: password_hash}), sort_keys=True)

    # ------------------------------------------------------------ objects

    def objects(self, creds):
        s = self.s
        name, namespace, labels = self.name, self.namespace, self.labels
        objects = [self.pull_secret()] if self.pull_secret() is not None else []
        objects += [
            # The config file is in the Secret, with the hashed password: no ConfigMap.
            secret_object(self.secret_name, namespace, labels, creds["secret_data"]),
            pvc_object(name, namespace, labels, s["storage_access_mode"], s["storage_class"], s["storage_size"]),
        ]
        if s["network_policy_enabled"]:
            objects.append(network_policy_object(
                name, namespace, labels, self.selector, s["network_policy_ingress_namespace_labels"],
                s["network_policy_ingress_pod_labels"], s["network_policy_extra_from"],
                egress=egress_rules(s, {"app.kubernetes.io/name": JUPYTER_APP} if self.connected else None)))
        objects.append(service_object(name, namespace, labels, self.selector, s["service_port"]))
        if s["ingress_enabled"]:
            annotations = ingress_annotations(s["ingress_class_annotations"], s["ingress_class_name"], s["ingress_annotations"])
            objects.append(ingress_object(name, namespace, labels, annotations, s["ingress_class_name"],
                                          s["ingress_hosts"], s["ingress_tls_secret"]))
        objects.append(self.deployment(creds))
        return objects

    def optional_kinds(self):
        # Earlier versions kept the config in a ConfigMap: an upgrade removes it.
        return super().optional_kinds() + [("v1", "ConfigMap", False)]

    def deployment(self, creds):
        s = self.s
        config_file = CONFIG_DIR + "/" + CONFIG_KEY
        mounts = [
            {"name": "home", "mountPath": s["home"]},
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ]
        env = [{"name": "CODE_SERVER_CONFIG", "value": config_file}]
        volumes = [
            {"name": "home", "persistentVolumeClaim": {"claimName": self.name}},
            {"name": "config", "secret": {"secretName": self.secret_name, "defaultMode": SECRET_FILE_MODE,
                                          "items": [{"key": CONFIG_KEY, "path": CONFIG_KEY}]}},
            {"name": "tmp", "emptyDir": {"sizeLimit": str(s["scratch_size_limit"])}},
        ]
        installer_mounts = list(mounts)
        if self.connected:
            jupyter = self.jupyter
            # The shared Jupyter Server: its URL, and its token as a file (only that
            # key of its Secret), which the user reads in a terminal when connecting.
            env += [
                {"name": "JUPYTER_SERVER_URL", "value": jupyter["url"]},
                {"name": "JUPYTER_TOKEN_FILE", "value": JUPYTER_TOKEN_FILE},
            ]
            mounts.append({"name": "jupyter-token", "mountPath": JUPYTER_TOKEN_DIR, "readOnly": True})
            volumes.append({"name": "jupyter-token", "secret": {
                "secretName": jupyter["secret_name"], "defaultMode": SECRET_FILE_MODE,
                "items": [{"key": jupyter["token_key"], "path": JUPYTER_TOKEN_PATH}]}})
        container = self.main_container(env, "/healthz", s["resources"], mounts)
        pod = {
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "securityContext": pod_security_context(s["uid"], s["gid"]),
        }
        pod.update(pod_scheduling(self.pull_secret_names, s["node_selector"], s["tolerations"], s["affinity"]))
        if s["extensions"]:
            pod["initContainers"] = [self.extensions_installer(config_file, installer_mounts)]
        pod["containers"] = [container]
        pod["volumes"] = volumes
        annotations = {
            CONFIG_CHECKSUM_ANNOTATION: hashlib.sha256(json.dumps(self.config, sort_keys=True).encode()).hexdigest(),
            SECRET_CHECKSUM_ANNOTATION: creds["checksum"],
        }
        pod_labels = dict(self.labels, **client_pod_labels(self.jupyter_name))
        # One home volume: the old pod lets go of it before the new one starts.
        return deployment_object(self.name, self.namespace, self.labels, self.selector, s["replicas"],
                                 {"type": "Recreate"}, pod_labels, annotations, pod,
                                 scanner_skips(s["uid"], s.var("uid")))

    def extensions_installer(self, config_file, mounts):
        """Installs the extensions into the home volume; ones already there are kept."""
        s = self.s
        command = ["code-server", "--extensions-dir", self.data_dir + "/extensions"]
        for extension in s["extensions"]:
            command += ["--install-extension", extension]
        env = []
        if s["extensions_gallery"]:
            env.append({"name": "EXTENSIONS_GALLERY", "value": json.dumps(s["extensions_gallery"])})
        env.append({"name": "CODE_SERVER_CONFIG", "value": config_file})
        return {
            "name": "install-extensions", "image": self.image, "imagePullPolicy": s["image_pull_policy"],
            "command": command, "env": env,
            "securityContext": container_security_context(s["read_only_root_filesystem"]),
            "resources": s["resources"], "volumeMounts": mounts,
        }

    # ------------------------------------------------------------ how to connect

    def connection(self, creds):
        return {
            **self.connection_base(),
            "secret_name": self.secret_name,
            "jupyter_url": self.jupyter["url"] if self.connected else "",
            "user": self.user,
        }

    def summary(self, creds):
        s = self.s
        external = self.external_url
        if creds["password"] and s["show_password"]:
            password = "Password: " + creds["password"]
        elif creds["password"]:
            password = ("Password: %s get secret %s -o jsonpath='{.data.%s}' | base64 -d   (or -e %s=true)"
                        % (self.kubectl, self.secret_name, PASSWORD_KEY, s.var("show_password")))
        else:
            password = "Password: the one you set (%s)" % s.var("password")
        return [
            "%s %s/%s%s" % (self.what, self.namespace, self.name, (" (user %s)" % self.user) if self.user else ""),
            ("Open: " + external) if external else (
                "Open: %s port-forward svc/%s 8080:%s, then http://127.0.0.1:8080/"
                % (self.kubectl, self.name, s["service_port"])),
            password,
            ("Shared kernels: in the Jupyter extension choose Existing Jupyter Server, enter %s and, when asked "
             "for the token, paste what `cat $JUPYTER_TOKEN_FILE` prints in a code-server terminal." % self.jupyter["url"])
            if self.connected else "Not connected to a Jupyter Server (%s is empty)." % s.var("jupyter_name"),
        ]
