"""Where everything is (cache, state, each file of the state dir), the cluster's
fixed addresses, and the facts of this host (node name and IP, CNI plugins)."""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path

from .util import ClusterError, run

TOOL_DIR = Path(__file__).resolve().parent
REPO = TOOL_DIR.parents[1]
CACHE_DIR = Path(
    os.environ.get("REMOTEDEV_CACHE_DIR")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "remotedev-jupyter"
)
STATE_DIR = Path(os.environ.get("REMOTEDEV_CLUSTER_DIR") or CACHE_DIR / "cluster" / "state")
BIN_CACHE = CACHE_DIR / "cluster" / "bin"
REGISTRY = os.environ.get("REMOTEDEV_REGISTRY", "127.0.0.1:5000")
VERBOSITY = os.environ.get("REMOTEDEV_CLUSTER_VERBOSITY", "1")

# Addresses of the cluster. The pod subnet must not overlap podman's default
# (10.88.0.0/16) nor the host's own networks.
SERVICE_CIDR = "10.96.0.0/16"
API_SERVICE_IP = "10.96.0.1"
DNS_SERVICE_IP = "10.96.0.10"
CLUSTER_CIDR = "10.244.0.0/16"
POD_SUBNET = "10.244.0.0/24"
POD_GATEWAY = "10.244.0.1"
CLUSTER_DOMAIN = "cluster.local"
BRIDGE = "remotedev0"
CNI_NETWORK = "remotedev"
API_PORT = 6443
COREDNS_HEALTH = "127.0.0.1:10054"
COREDNS_READY = "127.0.0.1:10055"
NETPOL_METRICS = "127.0.0.1:10262"
PROVISIONER = "remotedev.local/hostpath"
# The ingress controller (Traefik on the host): HTTP, redirected to HTTPS, and
# HTTPS on every address of the host, at the standard ports so that the URLs
# the roles print work as they are (the environment moves them where a web
# server holds 80/443); its ping endpoint on loopback. Names under
# INGRESS_DOMAIN resolve to loopback in browsers (RFC 6761) and need no DNS.
# Its certificate covers INGRESS_NAMES (TLS clients refuse a wildcard right
# under a top-level name: *.localhost cannot be one), signed by the ingress
# CA (pki/ingress-ca.crt) that clients trust.
INGRESS_CLASS = "remotedev-traefik"
INGRESS_CONTROLLER = "traefik.io/ingress-controller"
INGRESS_HTTP_PORT = int(os.environ.get("REMOTEDEV_INGRESS_HTTP_PORT") or 80)
INGRESS_HTTPS_PORT = int(os.environ.get("REMOTEDEV_INGRESS_HTTPS_PORT") or 443)
INGRESS_PING = "127.0.0.1:10280"
INGRESS_DOMAIN = "localhost"
INGRESS_NAMES = (INGRESS_DOMAIN, f"*.jupyter.{INGRESS_DOMAIN}", f"*.code.{INGRESS_DOMAIN}", f"*.apps.{INGRESS_DOMAIN}")
# The controller's own timeouts, short on purpose (the defaults are 60 s to
# read a request and 180 s idle): the idle-websocket proofs wait past them.
INGRESS_READ_TIMEOUT = 20
INGRESS_IDLE_TIMEOUT = 20
STORAGE_CLASS = "standard"


class Layout:
    """The paths of one state directory."""

    def __init__(self, root: Path):
        self.root = root
        self.pki = root / "pki"
        self.config = root / "config"
        self.pids = root / "pids"
        self.logs = root / "logs"
        self.run = root / "run"
        self.etcd = root / "etcd"
        self.containerd = root / "containerd"
        self.containerd_sock = self.run / "containerd" / "containerd.sock"
        self.kubelet = root / "kubelet"
        self.pod_logs = root / "pod-logs"
        self.cni_conf = root / "cni" / "net.d"
        self.cni_ipam = root / "cni" / "ipam"
        self.volumes = root / "volumes"
        self.admin_kubeconfig = root / "admin.kubeconfig"
        self.facts = root / "facts.json"
        # The rendered component configurations (configs.py writes them).
        self.containerd_config = self.config / "containerd.toml"
        self.registry_hosts = self.containerd / "certs.d" / REGISTRY / "hosts.toml"
        self.cni_conflist = self.cni_conf / "10-remotedev.conflist"
        self.kubelet_config = self.config / "kubelet.json"
        self.kube_proxy_config = self.config / "kube-proxy.json"
        self.corefile = self.config / "Corefile"
        self.bootstrap = self.config / "bootstrap.json"
        self.ingress_dynamic = self.config / "traefik-dynamic.yml"

    def kubeconfig(self, user: str) -> Path:
        return self.config / f"{user}.kubeconfig"

    def pid_file(self, component: str) -> Path:
        return self.pids / f"{component}.pid"

    def log_file(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    @property
    def cri_endpoint(self) -> str:
        return f"unix://{self.containerd_sock}"


# The state directory every command works on. Modules read it as `layout.STATE`
# at call time, so that a test can point it at a temporary directory.
STATE = Layout(STATE_DIR)


def node_name() -> str:
    return (os.environ.get("REMOTEDEV_CLUSTER_NODE_NAME") or socket.gethostname()).split(".")[0].lower()


def node_ip() -> str:
    """The host's primary IPv4 address (the one of its default route)."""
    if os.environ.get("REMOTEDEV_CLUSTER_NODE_IP"):
        return os.environ["REMOTEDEV_CLUSTER_NODE_IP"]
    routes = json.loads(run(["ip", "-j", "-4", "route", "show", "default"]).stdout or "[]")
    devices = [r["dev"] for r in routes if r.get("dev")]
    links = json.loads(run(["ip", "-j", "-4", "addr", "show"]).stdout or "[]")
    return primary_address(links, devices)


def primary_address(links: list[dict], default_devices: list[str]) -> str:
    """The first global IPv4 address of `ip -j addr` output, the default route's
    interfaces first; container and cluster bridges are never the node's address."""
    skip = re.compile(r"^(lo|docker\d*|cni-podman\d*|podman\d*|veth.*|" + re.escape(BRIDGE) + r")$")
    candidates = sorted(links, key=lambda link: link["ifname"] not in default_devices)
    for link in candidates:
        if skip.match(link["ifname"]):
            continue
        for addr in link.get("addr_info", []):
            if addr.get("family") == "inet" and addr.get("scope") == "global":
                return addr["local"]
    raise ClusterError("no global IPv4 address found for the node; set REMOTEDEV_CLUSTER_NODE_IP")


def cni_bin_dir() -> str:
    """Where Debian's containernetworking-plugins put the CNI plugins."""
    for candidate in ("/usr/lib/cni", "/opt/cni/bin"):
        if Path(candidate, "bridge").exists():
            return candidate
    raise ClusterError("CNI plugins not found (/usr/lib/cni/bridge); install containernetworking-plugins")
