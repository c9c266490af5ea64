"""Is it up: each component's health endpoint, the API, the node's Ready condition."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

from . import layout
from .processes import log_tail, running_pid
from .util import ClusterError, run


def tls_context(ca: Path | None = None, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """Verifying against `ca`; without one, not verifying: the controller-manager's
    and scheduler's health ports serve self-signed certificates."""
    if ca:
        context = ssl.create_default_context(cafile=str(ca))
    else:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert:
        context.load_cert_chain(str(cert), str(key))
    return context


def http_get(url: str, context: ssl.SSLContext | None = None, timeout: float = 3) -> tuple[int, str]:
    """(status, body); status 0 when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")
    except (OSError, ssl.SSLError) as error:
        return 0, str(error)


def admin_context() -> ssl.SSLContext:
    pki = layout.STATE.pki
    return tls_context(pki / "ca.crt", pki / "admin.crt", pki / "admin.key")


def api_get(path: str) -> dict | None:
    status, body = http_get(f"https://127.0.0.1:{layout.API_PORT}{path}", admin_context())
    if status != 200:
        return None
    return json.loads(body)


def containerd_health() -> tuple[int, str]:
    sock = layout.STATE.containerd_sock
    if not sock.is_socket():
        return 0, "no socket"
    result = run(["ctr", "--address", sock, "version"], check=False, timeout=10)
    return (200, "ok") if result.returncode == 0 else (0, result.stderr.strip())


def etcd_health() -> tuple[int, str]:
    pki = layout.STATE.pki
    context = tls_context(pki / "etcd-ca.crt", pki / "apiserver-etcd-client.crt", pki / "apiserver-etcd-client.key")
    return http_get("https://127.0.0.1:2379/health", context)


# Each component's probe: (status, body), 200 when healthy.
HEALTH = {
    "etcd": etcd_health,
    "kube-apiserver": lambda: http_get(f"https://127.0.0.1:{layout.API_PORT}/readyz", admin_context()),
    "kube-controller-manager": lambda: http_get("https://127.0.0.1:10257/healthz", tls_context()),
    "kube-scheduler": lambda: http_get("https://127.0.0.1:10259/healthz", tls_context()),
    "containerd": containerd_health,
    "kubelet": lambda: http_get("http://127.0.0.1:10248/healthz"),
    "kube-proxy": lambda: http_get("http://127.0.0.1:10256/healthz"),
    # Served once the engine's informers have synced (netpol/main.go).
    "network-policies": lambda: http_get(f"http://{layout.NETPOL_METRICS}/metrics"),
    "coredns": lambda: http_get(f"http://{layout.COREDNS_READY}/ready"),
    "hostpath-provisioner": lambda: (200, "running") if running_pid("hostpath-provisioner") else (0, "not running"),
    "traefik": lambda: http_get(f"http://{layout.INGRESS_PING}/ping"),
}


def healthy(name: str) -> bool:
    status, body = HEALTH[name]()
    if name == "etcd":
        # etcd answers 200 with {"health":"false"} while it has no quorum.
        return status == 200 and '"health":"true"' in body.replace(" ", "")
    return status == 200


def wait_healthy(name: str, timeout: float) -> None:
    log_path = layout.STATE.log_file(name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running_pid(name) is None:
            raise ClusterError(f"{name} exited during start-up; last lines of {log_path}:\n{log_tail(name)}")
        if healthy(name):
            return
        time.sleep(0.25)
    status, body = HEALTH[name]()
    raise ClusterError(
        f"{name} not healthy after {timeout:.0f}s ({status} {body[:300]}); last lines of {log_path}:\n{log_tail(name)}"
    )


def node_ready(node: str, since: float = 0) -> bool:
    """Ready, and (with `since`) reported by a kubelet that ran after that time: a node
    object left in etcd by an earlier run keeps its old Ready condition for a while."""
    obj = api_get(f"/api/v1/nodes/{node}")
    if not obj:
        return False
    for condition in obj.get("status", {}).get("conditions", []):
        if condition["type"] == "Ready":
            heartbeat = time.mktime(time.strptime(condition["lastHeartbeatTime"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
            return condition["status"] == "True" and heartbeat >= int(since)
    return False
