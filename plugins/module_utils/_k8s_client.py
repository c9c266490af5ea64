# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small Kubernetes REST client (PRIVATE to this collection, no public API).

The deploy engine needs a handful of verbs on a fixed set of kinds: GET, LIST,
server-side apply (PATCH application/apply-patch+yaml), DELETE, each with
dryRun for check mode. This client does exactly that over one keep-alive
connection with the Python standard library, so one instance converges in one
API session without the import and discovery cost of a generated client.

Credentials come from a kubeconfig (client certificates, bearer tokens and
token files, basic auth, exec credential plugins such as `aws eks get-token`)
or, with no kubeconfig at all, from the pod's service account (in-cluster).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shlex
import ssl
import tempfile
import time
from urllib.parse import quote, urlencode, urlsplit

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - PyYAML comes with ansible-core
    HAS_YAML = False

IN_CLUSTER_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
IN_CLUSTER_CA = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
DEFAULT_KUBECONFIG = "~/.kube/config"

# apiVersion -> kind -> (plural, namespaced). The kinds the collection manages.
RESOURCES = {
    "v1": {
        "Namespace": ("namespaces", False),
        "Secret": ("secrets", True),
        "ConfigMap": ("configmaps", True),
        "PersistentVolumeClaim": ("persistentvolumeclaims", True),
        "Service": ("services", True),
        "Pod": ("pods", True),
        "Event": ("events", True),
        "ServiceAccount": ("serviceaccounts", True),
    },
    "apps/v1": {"Deployment": ("deployments", True), "ReplicaSet": ("replicasets", True)},
    "networking.k8s.io/v1": {"NetworkPolicy": ("networkpolicies", True), "Ingress": ("ingresses", True)},
    "storage.k8s.io/v1": {"StorageClass": ("storageclasses", False)},
    "route.openshift.io/v1": {"Route": ("routes", True)},
    "rbac.authorization.k8s.io/v1": {"Role": ("roles", True), "RoleBinding": ("rolebindings", True)},
}


class KubeError(Exception):
    """An API answer other than success, or no answer at all (status 0)."""

    def __init__(self, status, reason, message):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message

    def __str__(self):
        if self.status:
            return "%s %s: %s" % (self.status, self.reason, self.message)
        return self.message


class ConfigError(ValueError):
    """The kubeconfig cannot be used; the message names what is wrong."""


def resource_path(api_version, kind, namespace=None, name=None):
    """The REST path of a kind (and optionally of one object of it)."""
    try:
        plural, namespaced = RESOURCES[api_version][kind]
    except KeyError:
        raise ValueError("unknown kind %s/%s" % (api_version, kind))
    prefix = "/api/v1" if api_version == "v1" else "/apis/" + api_version
    if namespaced:
        if not namespace:
            raise ValueError("%s is namespaced: a namespace is needed" % kind)
        prefix += "/namespaces/" + quote(namespace, safe="")
    path = prefix + "/" + plural
    if name:
        path += "/" + quote(name, safe="")
    return path


def object_path(obj):
    meta = obj["metadata"]
    return resource_path(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])


# ---------------------------------------------------------------- kubeconfig


def _named(entries, name, what, source):
    for entry in entries or []:
        if entry.get("name") == name:
            return entry.get(what) or {}
    raise ConfigError("%s %r is not defined in %s" % (what, name, source))


def _relative(path, base_dir):
    if not path:
        return path
    path = os.path.expanduser(path)
    return path if os.path.isabs(path) else os.path.join(base_dir, path)


def _exec_credential(spec, cluster_server, run_command):
    """Run an exec credential plugin (client.authentication.k8s.io) and return its status.

    run_command(argv, env) -> stdout bytes is given by the caller (the action
    plugin on the controller), which owns running processes."""
    command = [spec["command"]] + list(spec.get("args") or [])
    env = dict(os.environ)
    for item in spec.get("env") or []:
        if not item.get("name"):
            raise ConfigError("an env item of the kubeconfig's exec credential plugin %s has no name" % spec["command"])
        env[item["name"]] = item.get("value") or ""
    env["KUBERNETES_EXEC_INFO"] = json.dumps({
        "apiVersion": spec.get("apiVersion", "client.authentication.k8s.io/v1"),
        "kind": "ExecCredential",
        "spec": {"interactive": False, "cluster": {"server": cluster_server}},
    })
    if run_command is None:
        raise ConfigError("the kubeconfig uses an exec credential plugin (%s) and no command runner was given"
                          % shlex.join(command))
    try:
        out = run_command(command, env)
    except (OSError, ValueError) as exc:
        raise ConfigError("the kubeconfig's exec credential plugin %s failed: %s" % (shlex.join(command), exc))
    try:
        return json.loads(out.decode("utf-8"))["status"]
    except (ValueError, KeyError) as exc:
        raise ConfigError("the kubeconfig's exec credential plugin %s printed no ExecCredential status: %s"
                          % (shlex.join(command), exc))


class Connection:
    """Where the API server is and how to authenticate: the result of loading a
    kubeconfig (or the in-cluster service account)."""

    def __init__(self, server, ca_file=None, ca_data=None, insecure=False, cert_file=None, key_file=None,
                 cert_data=None, key_data=None, token=None, token_file=None, username=None, password=None,
                 tls_server_name=None, source="", context=""):
        self.server = server.rstrip("/")
        self.ca_file = ca_file
        self.ca_data = ca_data
        self.insecure = insecure
        self.cert_file = cert_file
        self.key_file = key_file
        self.cert_data = cert_data
        self.key_data = key_data
        self.token = token
        self.token_file = token_file
        self.username = username
        self.password = password
        self.tls_server_name = tls_server_name
        self.source = source
        self.context = context

    def describe(self):
        return "kubeconfig %s, context %s" % (self.source, self.context or "(current)")


def kubeconfig_path(kubeconfig=None, environ=None):
    """kubernetes.core's lookup order: the option, K8S_AUTH_KUBECONFIG, KUBECONFIG (first entry), ~/.kube/config."""
    environ = os.environ if environ is None else environ
    path = kubeconfig or environ.get("K8S_AUTH_KUBECONFIG") or environ.get("KUBECONFIG") or DEFAULT_KUBECONFIG
    return os.path.expanduser(path.split(os.pathsep)[0])


def load_connection(kubeconfig=None, context=None, environ=None, run_command=None):
    """A Connection from a kubeconfig, or from the service account when running
    in a pod and no kubeconfig exists."""
    environ = os.environ if environ is None else environ
    path = kubeconfig_path(kubeconfig, environ)
    if not os.path.exists(path):
        if not kubeconfig and environ.get("KUBERNETES_SERVICE_HOST") and os.path.exists(IN_CLUSTER_TOKEN):
            host = environ["KUBERNETES_SERVICE_HOST"]
            host = "[%s]" % host if ":" in host else host
            return Connection("https://%s:%s" % (host, environ.get("KUBERNETES_SERVICE_PORT", "443")),
                              ca_file=IN_CLUSTER_CA, token_file=IN_CLUSTER_TOKEN, source="(in-cluster service account)")
        raise ConfigError("no kubeconfig at %s (and not running in a pod)" % path)
    if not HAS_YAML:
        raise ConfigError("PyYAML is needed to read %s" % path)
    try:
        with open(path, "rb") as handle:
            config = yaml.safe_load(handle) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError("cannot read kubeconfig %s: %s" % (path, exc))
    return connection_from_config(config, path, context, run_command)


def connection_from_config(config, path, context=None, run_command=None):
    base_dir = os.path.dirname(os.path.abspath(path))
    context_name = context or config.get("current-context")
    if not context_name:
        raise ConfigError("kubeconfig %s has no current-context; name one" % path)
    ctx = _named(config.get("contexts"), context_name, "context", path)
    cluster = _named(config.get("clusters"), ctx.get("cluster"), "cluster", path)
    user = _named(config.get("users"), ctx.get("user"), "user", path) if ctx.get("user") else {}
    if not cluster.get("server"):
        raise ConfigError("cluster %r in %s has no server" % (ctx.get("cluster"), path))
    conn = Connection(
        cluster["server"],
        ca_file=_relative(cluster.get("certificate-authority"), base_dir),
        ca_data=cluster.get("certificate-authority-data"),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        tls_server_name=cluster.get("tls-server-name"),
        cert_file=_relative(user.get("client-certificate"), base_dir),
        key_file=_relative(user.get("client-key"), base_dir),
        cert_data=user.get("client-certificate-data"),
        key_data=user.get("client-key-data"),
        token=user.get("token"),
        token_file=_relative(user.get("tokenFile"), base_dir),
        username=user.get("username"),
        password=user.get("password"),
        source=path,
        context=context_name,
    )
    if user.get("exec"):
        status = _exec_credential(user["exec"], conn.server, run_command)
        conn.token = status.get("token") or conn.token
        if status.get("clientCertificateData"):
            if not status.get("clientKeyData"):
                raise ConfigError("the kubeconfig's exec credential plugin returned a client certificate without its key")
            conn.cert_data = base64.b64encode(status["clientCertificateData"].encode()).decode()
            conn.key_data = base64.b64encode(status["clientKeyData"].encode()).decode()
    elif user.get("auth-provider"):
        token = (user["auth-provider"].get("config") or {}).get("id-token")
        if not token:
            raise ConfigError("user %r in %s uses an auth-provider without an id-token; use an exec plugin"
                              % (ctx.get("user"), path))
        conn.token = token
    return conn


def _ssl_context(conn):
    if conn.insecure:
        # The kubeconfig asks for it (insecure-skip-tls-verify).
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.create_default_context(cafile=conn.ca_file)
        if conn.ca_data:
            context.load_verify_locations(cadata=base64.b64decode(conn.ca_data).decode("ascii"))
    if conn.cert_file or conn.cert_data:
        _load_client_cert(context, conn)
    return context


def _load_client_cert(context, conn):
    """load_cert_chain only reads files: data from the kubeconfig goes through
    private temporary files that are removed at once."""
    if conn.cert_file and not conn.cert_data:
        context.load_cert_chain(conn.cert_file, conn.key_file)
        return
    directory = tempfile.mkdtemp(prefix="remotedev-kube-")
    try:
        cert = os.path.join(directory, "cert.pem")
        key = os.path.join(directory, "key.pem")
        for target, data, fallback in ((cert, conn.cert_data, conn.cert_file), (key, conn.key_data, conn.key_file)):
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                if data:
                    handle.write(base64.b64decode(data))
                else:
                    with open(fallback, "rb") as source:
                        handle.write(source.read())
        context.load_cert_chain(cert, key)
    finally:
        for name in os.listdir(directory):
            os.unlink(os.path.join(directory, name))
        os.rmdir(directory)


# ---------------------------------------------------------------- client


class _HTTPSConnection(http.client.HTTPSConnection):
    """HTTPS with the kubeconfig's tls-server-name for SNI and the certificate check."""

    def __init__(self, host, port, timeout, context, server_name=None):
        super().__init__(host, port, timeout=timeout, context=context)
        self._tls_context = context
        self._server_name = server_name or host

    def connect(self):
        http.client.HTTPConnection.connect(self)
        self.sock = self._tls_context.wrap_socket(self.sock, server_hostname=self._server_name)


class Client:
    """One keep-alive connection to the API server. Every method returns parsed
    JSON or raises KubeError."""

    def __init__(self, conn, timeout=30, field_manager="remotedev-jupyter"):
        self.conn = conn
        self.timeout = timeout
        self.field_manager = field_manager
        parts = urlsplit(conn.server)
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._ssl = _ssl_context(conn) if parts.scheme == "https" else None
        self._http = None
        self.requests = 0

    def _connect(self):
        if self._scheme == "https":
            return _HTTPSConnection(self._host, self._port or 443, timeout=self.timeout, context=self._ssl,
                                    server_name=self.conn.tls_server_name)
        return http.client.HTTPConnection(self._host, self._port or 80, timeout=self.timeout)

    def _headers(self, content_type=None):
        headers = {"Accept": "application/json", "User-Agent": "remotedev.jupyter"}
        token = self.conn.token
        if not token and self.conn.token_file:
            try:
                with open(self.conn.token_file) as handle:  # re-read: projected tokens rotate
                    token = handle.read().strip()
            except OSError as exc:
                raise KubeError(0, "credentials", "cannot read the token file %s: %s" % (self.conn.token_file, exc))
        if token:
            headers["Authorization"] = "Bearer " + token
        elif self.conn.username:
            pair = "%s:%s" % (self.conn.username, self.conn.password or "")
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def request(self, method, path, query=None, body=None, content_type="application/json"):
        url = self._prefix + path
        if query:
            url += "?" + urlencode(query)
        payload = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode("utf-8"))
        headers = self._headers(content_type if payload is not None else None)
        for attempt in (1, 2):
            if self._http is None:
                self._http = self._connect()
            try:
                self._http.request(method, url, body=payload, headers=headers)
                response = self._http.getresponse()
                data = response.read()
                break
            except (http.client.HTTPException, ConnectionError, OSError, ssl.SSLError) as exc:
                self.close()
                # A keep-alive connection the server closed: retry once on a new one.
                if attempt == 2 or not isinstance(exc, (http.client.RemoteDisconnected, ConnectionResetError,
                                                        BrokenPipeError, http.client.CannotSendRequest)):
                    raise KubeError(0, "unreachable", "cannot reach the Kubernetes API at %s: %s"
                                    % (self.conn.server, exc))
        self.requests += 1
        if response.status >= 400:
            raise _error(response.status, response.reason, data)
        return json.loads(data.decode("utf-8")) if data else {}

    def close(self):
        if self._http is not None:
            self._http.close()
            self._http = None

    # Verbs on objects -------------------------------------------------

    def get(self, api_version, kind, name, namespace=None):
        """The object, or None when it does not exist."""
        try:
            return self.request("GET", resource_path(api_version, kind, namespace, name))
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    def list(self, api_version, kind, namespace=None, label_selector=None, field_selector=None):
        return self.list_versioned(api_version, kind, namespace, label_selector, field_selector)[0]

    def list_versioned(self, api_version, kind, namespace=None, label_selector=None, field_selector=None):
        """(items, the list's resourceVersion): a watch from that version sees every later change."""
        query = {}
        if label_selector:
            query["labelSelector"] = label_selector
        if field_selector:
            query["fieldSelector"] = field_selector
        answer = self.request("GET", resource_path(api_version, kind, namespace), query=query)
        return answer.get("items") or [], (answer.get("metadata") or {}).get("resourceVersion", "")

    def wait_for_change(self, api_version, kind, namespace, label_selector, resource_version, timeout):
        """Block until an object of the list changes after resource_version (True)
        or timeout seconds pass (False): a watch, on a connection of its own, so
        that a rollout is seen the moment it happens without polling the API."""
        query = {"watch": "1", "timeoutSeconds": str(max(1, int(timeout))), "labelSelector": label_selector}
        if resource_version:
            query["resourceVersion"] = resource_version
        connection = self._connect()
        connection.timeout = timeout + 10
        try:
            path = self._prefix + resource_path(api_version, kind, namespace) + "?" + urlencode(query)
            connection.request("GET", path, headers=self._headers())
            response = connection.getresponse()
            if response.status >= 400:
                raise _error(response.status, response.reason, response.read())
            self.requests += 1
            return bool(response.readline().strip())
        except (http.client.HTTPException, OSError, ssl.SSLError) as exc:
            raise KubeError(0, "unreachable", "cannot watch %s at %s: %s" % (kind, self.conn.server, exc))
        finally:
            connection.close()

    def apply(self, obj, dry_run=False, force=True):
        """Server-side apply with this client's field manager."""
        query = {"fieldManager": self.field_manager, "force": "true" if force else "false"}
        if dry_run:
            query["dryRun"] = "All"
        return self.request("PATCH", object_path(obj), query=query, body=json.dumps(obj).encode("utf-8"),
                            content_type="application/apply-patch+yaml")

    def delete(self, api_version, kind, name, namespace=None, dry_run=False):
        """True when something was deleted (or would be), False when it was not there."""
        query = {"propagationPolicy": "Foreground"}
        if dry_run:
            query["dryRun"] = "All"
        try:
            self.request("DELETE", resource_path(api_version, kind, namespace, name), query=query)
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def api_served(self, api_version):
        """Whether the cluster serves a group version (for example route.openshift.io/v1)."""
        try:
            self.request("GET", "/apis/" + api_version)
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise
        return True


def _error(status, reason, data):
    message = data.decode("utf-8", "replace").strip()
    try:
        parsed = json.loads(message)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        message = parsed.get("message") or message
        reason = parsed.get("reason") or reason
    return KubeError(status, reason, message[:2000])


def poll(check, timeout, interval=0.5, clock=time.monotonic, sleep=time.sleep):
    """Call check() until it returns something truthy or timeout seconds pass;
    returns the last value."""
    deadline = clock() + timeout
    while True:
        value = check()
        if value or clock() >= deadline:
            return value
        sleep(min(interval, max(0.0, deadline - clock())))
