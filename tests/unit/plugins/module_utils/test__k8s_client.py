# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of _k8s_client: kubeconfig loading, REST paths, and the client
against a local HTTP server (127.0.0.1) that records what it is sent."""

from __future__ import annotations

import base64
import http.server
import json
import os
import stat
import subprocess
import sys
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from ansible_collections.remotedev.jupyter.plugins.module_utils import _k8s_client as kc


# ---------------------------------------------------------------- kubeconfig


def kubeconfig(users=None, clusters=None, contexts=None, current="dev"):
    return {
        "apiVersion": "v1", "kind": "Config",
        "current-context": current,
        "clusters": clusters if clusters is not None else [
            {"name": "dev-cluster", "cluster": {"server": "https://dev.example:6443/", "certificate-authority": "ca.crt"}},
            {"name": "prod-cluster", "cluster": {"server": "https://prod.example", "insecure-skip-tls-verify": True,
                                                 "tls-server-name": "api.prod.internal"}},
        ],
        "users": users if users is not None else [
            {"name": "dev-user", "user": {"client-certificate": "certs/client.crt", "client-key": "/abs/client.key"}},
            {"name": "prod-user", "user": {"token": "prod-token"}},
        ],
        "contexts": contexts if contexts is not None else [
            {"name": "dev", "context": {"cluster": "dev-cluster", "user": "dev-user"}},
            {"name": "prod", "context": {"cluster": "prod-cluster", "user": "prod-user", "namespace": "x"}},
        ],
    }


def write_kubeconfig(tmp_path, config, name="config"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_current_context_and_relative_paths(tmp_path):
    path = write_kubeconfig(tmp_path, kubeconfig())
    conn = kc.load_connection(path, environ={})
    assert conn.server == "https://dev.example:6443"
    assert conn.context == "dev"
    assert conn.source == path
    assert conn.ca_file == str(tmp_path / "ca.crt")
    assert conn.cert_file == str(tmp_path / "certs" / "client.crt")
    assert conn.key_file == "/abs/client.key"
    assert conn.insecure is False
    assert conn.token is None
    assert conn.describe() == "kubeconfig %s, context dev" % path


def test_explicit_context(tmp_path):
    path = write_kubeconfig(tmp_path, kubeconfig())
    conn = kc.load_connection(path, "prod", environ={})
    assert conn.server == "https://prod.example"
    assert conn.context == "prod"
    assert conn.token == "prod-token"
    assert conn.insecure is True
    assert conn.tls_server_name == "api.prod.internal"
    assert conn.ca_file is None and conn.cert_file is None


def test_kubeconfig_from_environment(tmp_path):
    path = write_kubeconfig(tmp_path, kubeconfig(), "from-env")
    other = write_kubeconfig(tmp_path, kubeconfig(current="prod"), "k8s-auth")
    assert kc.kubeconfig_path(environ={"KUBECONFIG": path + os.pathsep + "/nope"}) == path
    assert kc.kubeconfig_path(environ={"KUBECONFIG": path, "K8S_AUTH_KUBECONFIG": other}) == other
    assert kc.kubeconfig_path("/given", environ={"KUBECONFIG": path}) == "/given"
    assert kc.kubeconfig_path(environ={}) == os.path.expanduser("~/.kube/config")
    assert kc.load_connection(environ={"KUBECONFIG": path}).context == "dev"
    assert kc.load_connection(environ={"KUBECONFIG": path, "K8S_AUTH_KUBECONFIG": other}).context == "prod"


@pytest.mark.parametrize("user,expected", [
    ({"token": "abc"}, {"token": "abc"}),
    ({"tokenFile": "sa-token"}, {"token_file": "TMP/sa-token"}),
    ({"tokenFile": "/var/run/token"}, {"token_file": "/var/run/token"}),
    ({"username": "admin", "password": "s3cret"}, {"username": "admin", "password": "s3cret"}),
    ({"client-certificate-data": "Q0VSVA==", "client-key-data": "S0VZ"}, {"cert_data": "Q0VSVA==", "key_data": "S0VZ"}),
    ({"auth-provider": {"name": "oidc", "config": {"id-token": "oidc-token"}}}, {"token": "oidc-token"}),
])
def test_user_credentials(tmp_path, user, expected):
    config = kubeconfig(users=[{"name": "u", "user": user}], clusters=[{"name": "c", "cluster": {"server": "https://h"}}],
                        contexts=[{"name": "dev", "context": {"cluster": "c", "user": "u"}}])
    conn = kc.connection_from_config(config, str(tmp_path / "config"))
    for attribute, value in expected.items():
        assert getattr(conn, attribute) == value.replace("TMP", str(tmp_path))


def test_cluster_ca_data_and_no_user(tmp_path):
    config = kubeconfig(clusters=[{"name": "c", "cluster": {"server": "https://h", "certificate-authority-data": "Q0E="}}],
                        contexts=[{"name": "dev", "context": {"cluster": "c"}}], users=[])
    conn = kc.connection_from_config(config, str(tmp_path / "config"))
    assert conn.ca_data == "Q0E=" and conn.ca_file is None
    assert conn.token is None and conn.username is None


@pytest.mark.parametrize("config,context,message", [
    (kubeconfig(), "staging", "context 'staging' is not defined in"),
    (kubeconfig(current=""), None, "has no current-context; name one"),
    (kubeconfig(contexts=[{"name": "dev", "context": {"cluster": "gone", "user": "dev-user"}}]), None,
     "cluster 'gone' is not defined in"),
    (kubeconfig(contexts=[{"name": "dev", "context": {"cluster": "dev-cluster", "user": "ghost"}}]), None,
     "user 'ghost' is not defined in"),
    (kubeconfig(clusters=[{"name": "dev-cluster", "cluster": {}}]), None, "cluster 'dev-cluster' in"),
    (kubeconfig(users=[{"name": "dev-user", "user": {"auth-provider": {"name": "gcp", "config": {}}}}]), None,
     "uses an auth-provider without an id-token"),
])
def test_config_errors_name_what_is_missing(tmp_path, config, context, message):
    path = write_kubeconfig(tmp_path, config)
    with pytest.raises(kc.ConfigError, match=message) as info:
        kc.load_connection(path, context, environ={})
    assert path in str(info.value)


def test_unreadable_kubeconfig(tmp_path):
    path = tmp_path / "config"
    path.write_text("clusters: [unclosed\n")
    with pytest.raises(kc.ConfigError, match="cannot read kubeconfig"):
        kc.load_connection(str(path), environ={})


def exec_plugin(tmp_path, body):
    script = tmp_path / "credential-plugin"
    script.write_text("#!%s\n%s" % (sys.executable, body))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def run_command(argv, env):
    """The runner the caller gives load_connection (the action plugin has its own)."""
    try:
        return subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True,
                              timeout=30).stdout
    except subprocess.CalledProcessError as exc:
        raise OSError("exit code %s" % exc.returncode)


EXEC_PLUGIN = """
import json, os, sys
info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
print(json.dumps({
    "apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
    "status": {"token": "exec-token-" + os.environ["PLUGIN_SUFFIX"] + "-" + sys.argv[1],
               "expirationTimestamp": "2099-01-01T00:00:00Z"},
}))
with open(os.environ["PLUGIN_LOG"], "w") as handle:
    json.dump(info, handle)
"""


def test_exec_plugin_token(tmp_path):
    plugin = exec_plugin(tmp_path, EXEC_PLUGIN)
    log = tmp_path / "log.json"
    user = {"token": "static-token-replaced",
            "exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": plugin, "args": ["arg1"],
                     "env": [{"name": "PLUGIN_SUFFIX", "value": "xyz"}, {"name": "PLUGIN_LOG", "value": str(log)}]}}
    config = kubeconfig(users=[{"name": "dev-user", "user": user}])
    conn = kc.load_connection(write_kubeconfig(tmp_path, config), environ={}, run_command=run_command)
    assert conn.token == "exec-token-xyz-arg1"
    info = json.loads(log.read_text())
    assert info["kind"] == "ExecCredential"
    assert info["apiVersion"] == "client.authentication.k8s.io/v1"
    assert info["spec"]["cluster"]["server"] == "https://dev.example:6443"
    assert info["spec"]["interactive"] is False


def test_exec_plugin_token_is_sent(tmp_path, api):
    plugin = exec_plugin(tmp_path, 'import json\nprint(json.dumps({"status": {"token": "from-the-plugin"}}))\n')
    config = kubeconfig(users=[{"name": "dev-user", "user": {"exec": {"command": plugin}}}],
                        clusters=[{"name": "dev-cluster",
                                   "cluster": {"server": "http://127.0.0.1:%d" % api.server_address[1]}}])
    conn = kc.load_connection(write_kubeconfig(tmp_path, config), environ={}, run_command=run_command)
    kc.Client(conn, timeout=5).get("v1", "Namespace", "a")
    assert api.requests[0]["headers"]["Authorization"] == "Bearer from-the-plugin"


def test_exec_plugin_client_certificate(tmp_path):
    plugin = exec_plugin(tmp_path, 'import json\nprint(json.dumps({"status": {"clientCertificateData": "CERT PEM", '
                                   '"clientKeyData": "KEY PEM"}}))\n')
    config = kubeconfig(users=[{"name": "dev-user", "user": {"exec": {"command": plugin}}}])
    conn = kc.load_connection(write_kubeconfig(tmp_path, config), environ={}, run_command=run_command)
    assert base64.b64decode(conn.cert_data) == b"CERT PEM"
    assert base64.b64decode(conn.key_data) == b"KEY PEM"
    assert conn.token is None


@pytest.mark.parametrize("body,message", [
    ("import sys\nsys.exit(3)\n", "exec credential plugin .* failed: exit code 3"),
    ("print('not json')\n", "printed no ExecCredential status"),
    ("print('{\"kind\": \"ExecCredential\"}')\n", "printed no ExecCredential status"),
])
def test_exec_plugin_failures(tmp_path, body, message):
    plugin = exec_plugin(tmp_path, body)
    config = kubeconfig(users=[{"name": "dev-user", "user": {"exec": {"command": plugin}}}])
    with pytest.raises(kc.ConfigError, match=message):
        kc.load_connection(write_kubeconfig(tmp_path, config), environ={}, run_command=run_command)


def test_exec_plugin_missing_command(tmp_path):
    config = kubeconfig(users=[{"name": "dev-user", "user": {"exec": {"command": str(tmp_path / "missing")}}}])
    with pytest.raises(kc.ConfigError, match="failed"):
        kc.load_connection(write_kubeconfig(tmp_path, config), environ={}, run_command=run_command)


def test_exec_plugin_needs_a_runner(tmp_path):
    config = kubeconfig(users=[{"name": "dev-user", "user": {"exec": {"command": "aws", "args": ["eks", "get-token"]}}}])
    with pytest.raises(kc.ConfigError, match=r"exec credential plugin \(aws eks get-token\) and no command runner"):
        kc.load_connection(write_kubeconfig(tmp_path, config), environ={})


@pytest.fixture
def service_account(tmp_path, monkeypatch):
    token = tmp_path / "sa" / "token"
    token.parent.mkdir()
    token.write_text("sa-token\n")
    monkeypatch.setattr(kc, "IN_CLUSTER_TOKEN", str(token))
    return str(token)


def test_in_cluster_when_no_kubeconfig_exists(tmp_path, service_account):
    environ = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "6443",
               "KUBECONFIG": str(tmp_path / "absent")}
    conn = kc.load_connection(environ=environ)
    assert conn.server == "https://10.96.0.1:6443"
    assert conn.token_file == service_account
    assert conn.ca_file == kc.IN_CLUSTER_CA
    assert "in-cluster" in conn.describe()
    conn = kc.load_connection(environ={"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBECONFIG": str(tmp_path / "absent")})
    assert conn.server == "https://[fd00::1]:443"


def test_kubeconfig_wins_over_in_cluster(tmp_path, service_account):
    path = write_kubeconfig(tmp_path, kubeconfig())
    conn = kc.load_connection(environ={"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBECONFIG": path})
    assert conn.server == "https://dev.example:6443"
    assert conn.token_file is None


def test_no_in_cluster_fallback_for_an_explicit_kubeconfig(tmp_path, service_account):
    with pytest.raises(kc.ConfigError, match="no kubeconfig at .*given"):
        kc.load_connection(str(tmp_path / "given"), environ={"KUBERNETES_SERVICE_HOST": "10.96.0.1"})


def test_no_in_cluster_fallback_outside_a_pod(tmp_path, monkeypatch):
    monkeypatch.setattr(kc, "IN_CLUSTER_TOKEN", str(tmp_path / "no-token"))
    with pytest.raises(kc.ConfigError, match="not running in a pod"):
        kc.load_connection(environ={"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBECONFIG": str(tmp_path / "absent")})
    with pytest.raises(kc.ConfigError, match="not running in a pod"):
        kc.load_connection(environ={"KUBECONFIG": str(tmp_path / "absent")})


# ---------------------------------------------------------------- paths


@pytest.mark.parametrize("args,path", [
    (("v1", "Secret", "ns", "s"), "/api/v1/namespaces/ns/secrets/s"),
    (("v1", "Pod", "ns"), "/api/v1/namespaces/ns/pods"),
    (("v1", "Namespace", None, "ns"), "/api/v1/namespaces/ns"),
    (("v1", "Namespace", "ignored", "ns"), "/api/v1/namespaces/ns"),
    (("apps/v1", "Deployment", "ns", "d"), "/apis/apps/v1/namespaces/ns/deployments/d"),
    (("networking.k8s.io/v1", "Ingress", "ns", "i"), "/apis/networking.k8s.io/v1/namespaces/ns/ingresses/i"),
    (("storage.k8s.io/v1", "StorageClass", None, "fast"), "/apis/storage.k8s.io/v1/storageclasses/fast"),
    (("route.openshift.io/v1", "Route", "ns", "r"), "/apis/route.openshift.io/v1/namespaces/ns/routes/r"),
    (("v1", "Secret", "n s", "a/b?c"), "/api/v1/namespaces/n%20s/secrets/a%2Fb%3Fc"),
])
def test_resource_path(args, path):
    assert kc.resource_path(*args) == path


@pytest.mark.parametrize("args,message", [
    (("v1", "Widget", "ns", "w"), "unknown kind v1/Widget"),
    (("apps/v2", "Deployment", "ns", "d"), "unknown kind apps/v2/Deployment"),
    (("v1", "Secret", None, "s"), "Secret is namespaced"),
])
def test_resource_path_errors(args, message):
    with pytest.raises(ValueError, match=message):
        kc.resource_path(*args)


def test_object_path():
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "ns"}}
    assert kc.object_path(obj) == "/apis/apps/v1/namespaces/ns/deployments/d"
    assert kc.object_path({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}}) == "/api/v1/namespaces/ns"


# ---------------------------------------------------------------- client against a local server


class FakeAPI(http.server.BaseHTTPRequestHandler):
    """Answers from server.routes[(method, path)] = (status, body); records every request."""

    protocol_version = "HTTP/1.1"  # keep-alive

    def log_message(self, *args):  # quiet
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        self.server.requests.append({
            "method": self.command, "path": parts.path, "query": parse_qs(parts.query), "headers": dict(self.headers),
            "body": body, "connection": self.client_address,
        })
        status, answer = self.server.routes.get((self.command, parts.path), (404, {
            "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404,
            "message": "%s not found" % parts.path}))
        data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        if self.server.drop_connections:
            # Close the kept-alive connection without saying so, as an API server
            # (or a load balancer in front of it) does after an idle timeout.
            self.close_connection = True

    do_GET = do_PATCH = do_DELETE = do_POST = handle_any


@pytest.fixture
def api():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeAPI)
    server.daemon_threads = True
    server.requests = []
    server.routes = {}
    server.drop_connections = False
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def client_for(server, prefix="", **conn_args):
    conn = kc.Connection("http://127.0.0.1:%d%s" % (server.server_address[1], prefix), **conn_args)
    return kc.Client(conn, timeout=5, field_manager="test-manager")


SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "ns", "resourceVersion": "7"},
          "data": {"k": "dg=="}}


def test_get_and_bearer_token(api):
    api.routes[("GET", "/api/v1/namespaces/ns/secrets/s")] = (200, SECRET)
    client = client_for(api, token="bearer-123")
    assert client.get("v1", "Secret", "s", "ns") == SECRET
    request, = api.requests
    assert request["method"] == "GET"
    assert request["headers"]["Authorization"] == "Bearer bearer-123"
    assert request["headers"]["Accept"] == "application/json"
    assert "Content-Type" not in request["headers"]
    client.close()


def test_get_returns_none_on_404(api):
    client = client_for(api)
    assert client.get("v1", "Secret", "missing", "ns") is None
    assert "Authorization" not in api.requests[0]["headers"]


def test_server_path_prefix(api):
    api.routes[("GET", "/k8s/api/v1/namespaces/ns")] = (200, {"kind": "Namespace"})
    assert client_for(api, prefix="/k8s/").get("v1", "Namespace", "ns") == {"kind": "Namespace"}


def test_token_file_reread_and_basic_auth(api, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("first\n")
    client = client_for(api, token_file=str(token_file))
    client.get("v1", "Namespace", "a")
    token_file.write_text("rotated\n")
    client.get("v1", "Namespace", "a")
    assert [r["headers"]["Authorization"] for r in api.requests] == ["Bearer first", "Bearer rotated"]
    client_for(api, username="admin", password="pw").get("v1", "Namespace", "a")
    assert api.requests[-1]["headers"]["Authorization"] == "Basic " + base64.b64encode(b"admin:pw").decode()


def test_list_with_selectors(api):
    api.routes[("GET", "/api/v1/namespaces/ns/pods")] = (200, {"kind": "PodList", "items": [{"metadata": {"name": "p"}}]})
    api.routes[("GET", "/api/v1/namespaces/ns/events")] = (200, {"kind": "EventList", "items": None})
    client = client_for(api)
    assert client.list("v1", "Pod", "ns", label_selector="a=b,c=d") == [{"metadata": {"name": "p"}}]
    assert client.list("v1", "Event", "ns", field_selector="type=Warning") == []
    assert api.requests[0]["query"] == {"labelSelector": ["a=b,c=d"]}
    assert api.requests[1]["query"] == {"fieldSelector": ["type=Warning"]}


def test_apply_is_a_server_side_apply_patch(api):
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "ns"},
           "spec": {"replicas": 1}}
    api.routes[("PATCH", "/apis/apps/v1/namespaces/ns/deployments/d")] = (200, dict(obj, status={}))
    client = client_for(api, token="t")
    assert client.apply(obj) == dict(obj, status={})
    client.apply(obj, dry_run=True, force=False)
    first, second = api.requests
    assert first["method"] == "PATCH"
    assert first["headers"]["Content-Type"] == "application/apply-patch+yaml"
    assert first["query"] == {"fieldManager": ["test-manager"], "force": ["true"]}
    assert yaml.safe_load(first["body"]) == obj
    assert second["query"] == {"fieldManager": ["test-manager"], "force": ["false"], "dryRun": ["All"]}


def test_delete(api):
    api.routes[("DELETE", "/api/v1/namespaces/ns/configmaps/c")] = (200, {"kind": "Status", "status": "Success"})
    client = client_for(api)
    assert client.delete("v1", "ConfigMap", "c", "ns") is True
    assert client.delete("v1", "ConfigMap", "c", "ns", dry_run=True) is True
    assert client.delete("v1", "ConfigMap", "gone", "ns") is False
    assert api.requests[0]["method"] == "DELETE"
    assert api.requests[0]["query"] == {"propagationPolicy": ["Foreground"]}
    assert api.requests[1]["query"] == {"propagationPolicy": ["Foreground"], "dryRun": ["All"]}


def test_api_errors_carry_the_api_message(api):
    api.routes[("PATCH", "/api/v1/namespaces/ns/secrets/s")] = (422, {
        "kind": "Status", "status": "Failure", "reason": "Invalid", "code": 422,
        "message": "Secret \"s\" is invalid: data[k]: Invalid value"})
    api.routes[("DELETE", "/api/v1/namespaces/ns/secrets/s")] = (403, {
        "kind": "Status", "reason": "Forbidden", "message": "secrets \"s\" is forbidden: User cannot delete"})
    api.routes[("GET", "/api/v1/namespaces/ns/secrets/s")] = (500, b"plain text failure")
    client = client_for(api)
    with pytest.raises(kc.KubeError) as info:
        client.apply(SECRET)
    assert (info.value.status, info.value.reason) == (422, "Invalid")
    assert str(info.value) == "422 Invalid: Secret \"s\" is invalid: data[k]: Invalid value"
    with pytest.raises(kc.KubeError) as info:
        client.delete("v1", "Secret", "s", "ns")
    assert info.value.status == 403 and "is forbidden" in info.value.message
    with pytest.raises(kc.KubeError) as info:
        client.get("v1", "Secret", "s", "ns")
    assert info.value.status == 500 and info.value.message == "plain text failure"


def test_list_versioned_and_wait_for_change(api):
    pods = "/api/v1/namespaces/ns/pods"
    api.routes[("GET", pods)] = (200, {"kind": "PodList", "metadata": {"resourceVersion": "41"}, "items": []})
    client = client_for(api)
    assert client.list_versioned("v1", "Pod", "ns", label_selector="a=b") == ([], "41")
    # The watch answers with one event line: a change.
    api.routes[("GET", pods)] = (200, b'{"type": "MODIFIED", "object": {"kind": "Pod"}}\n')
    assert client.wait_for_change("v1", "Pod", "ns", "a=b", "41", 3) is True
    watch = api.requests[-1]
    assert watch["query"] == {"watch": ["1"], "timeoutSeconds": ["3"], "labelSelector": ["a=b"],
                              "resourceVersion": ["41"]}
    assert watch["connection"] != api.requests[0]["connection"]  # a connection of its own
    # The watch ends without an event: the timeout passed.
    api.routes[("GET", pods)] = (200, b"")
    assert client.wait_for_change("v1", "Pod", "ns", "a=b", "41", 0.2) is False
    assert api.requests[-1]["query"]["timeoutSeconds"] == ["1"]
    api.routes[("GET", pods)] = (410, {"kind": "Status", "reason": "Expired", "message": "too old resource version"})
    with pytest.raises(kc.KubeError) as info:
        client.wait_for_change("v1", "Pod", "ns", "a=b", "1", 1)
    assert info.value.status == 410


def test_error_bodies_that_are_not_status_objects(api):
    api.routes[("GET", "/api/v1/namespaces/ns/secrets/a")] = (500, b"[]")
    api.routes[("GET", "/api/v1/namespaces/ns/secrets/b")] = (502, b"42")
    client = client_for(api)
    for name, status, body in (("a", 500, "[]"), ("b", 502, "42")):
        with pytest.raises(kc.KubeError) as info:
            client.get("v1", "Secret", name, "ns")
        assert (info.value.status, info.value.message) == (status, body)


def test_a_missing_token_file_is_a_kube_error(api, tmp_path):
    client = client_for(api, token_file=str(tmp_path / "no-such-token"))
    with pytest.raises(kc.KubeError) as info:
        client.get("v1", "Namespace", "a")
    assert info.value.status == 0 and "cannot read the token file" in info.value.message
    assert api.requests == []


def test_api_served(api):
    api.routes[("GET", "/apis/route.openshift.io/v1")] = (200, {"kind": "APIResourceList"})
    client = client_for(api)
    assert client.api_served("route.openshift.io/v1") is True
    assert client.api_served("serving.knative.dev/v1") is False
    api.routes[("GET", "/apis/broken/v1")] = (503, {"message": "unavailable"})
    with pytest.raises(kc.KubeError, match="unavailable"):
        client.api_served("broken/v1")


def test_keep_alive_connection_is_reused(api):
    api.routes[("GET", "/api/v1/namespaces/a")] = (200, {"kind": "Namespace"})
    client = client_for(api)
    for _request in range(4):
        client.get("v1", "Namespace", "a")
    assert client.requests == 4
    assert len({r["connection"] for r in api.requests}) == 1
    client.close()
    client.get("v1", "Namespace", "a")
    assert len({r["connection"] for r in api.requests}) == 2


def test_reconnects_once_when_the_server_closed_the_connection(api):
    api.routes[("GET", "/api/v1/namespaces/a")] = (200, {"kind": "Namespace"})
    api.drop_connections = True
    client = client_for(api)
    for _request in range(3):
        assert client.get("v1", "Namespace", "a") == {"kind": "Namespace"}
    assert client.requests == 3
    assert len(api.requests) == 3
    assert len({r["connection"] for r in api.requests}) == 3


def test_unreachable_server_is_status_0():
    server = http.server.HTTPServer(("127.0.0.1", 0), FakeAPI)
    port = server.server_address[1]
    server.server_close()  # nothing listens on the port any more
    client = kc.Client(kc.Connection("http://127.0.0.1:%d" % port), timeout=2)
    with pytest.raises(kc.KubeError) as info:
        client.get("v1", "Namespace", "a")
    assert info.value.status == 0
    assert "cannot reach the Kubernetes API at http://127.0.0.1:%d" % port in str(info.value)


# ---------------------------------------------------------------- poll


class FakeClock:
    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_poll_returns_as_soon_as_truthy():
    clock = FakeClock()
    answers = iter([None, [], {"ready": True}, "never asked"])
    assert kc.poll(lambda: next(answers), 60, 2, clock, clock.sleep) == {"ready": True}
    assert clock.sleeps == [2, 2]


def test_poll_gives_up_at_the_timeout_with_the_last_value():
    clock = FakeClock()
    calls = []

    def check():
        calls.append(clock.now)
        return 0

    assert kc.poll(check, 5, 2, clock, clock.sleep) == 0
    assert clock.sleeps == [2, 2, 1]  # the last sleep ends exactly at the deadline
    assert calls == [1000.0, 1002.0, 1004.0, 1005.0]


def test_poll_checks_once_with_zero_timeout():
    clock = FakeClock()
    assert kc.poll(lambda: False, 0, 1, clock, clock.sleep) is False
    assert clock.sleeps == []
