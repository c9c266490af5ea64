"""What runs: the components in start order, how long each may take to become
healthy, and the command line of each."""

from __future__ import annotations

import shutil

from . import layout
from .build import Binaries

# Start order; `down` stops in reverse with the runtime swept in between.
COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "containerd",
    "kubelet",
    "kube-proxy",
    "network-policies",
    "coredns",
    "hostpath-provisioner",
    "traefik",
)

START_TIMEOUT = {
    "etcd": 60,
    "kube-apiserver": 120,
    "kube-controller-manager": 60,
    "kube-scheduler": 60,
    "containerd": 60,
    "kubelet": 90,
    "kube-proxy": 60,
    "network-policies": 30,
    "coredns": 60,
    "hostpath-provisioner": 5,
    "traefik": 30,
}


def argv_for(name: str, b: Binaries, node: str, ip: str, pause_ref: str) -> list:
    """The command line of one component (paths as Path objects, numbers as they come)."""
    state, pki, verbosity = layout.STATE, layout.STATE.pki, layout.VERBOSITY
    if name == "etcd":
        return [
            b["etcd"],
            "--name", node,
            "--data-dir", state.etcd,
            "--listen-client-urls", "https://127.0.0.1:2379",
            "--advertise-client-urls", "https://127.0.0.1:2379",
            "--listen-peer-urls", "http://127.0.0.1:2380",
            "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
            "--initial-cluster", f"{node}=http://127.0.0.1:2380",
            "--listen-metrics-urls", "http://127.0.0.1:2381",
            "--cert-file", pki / "etcd-server.crt",
            "--key-file", pki / "etcd-server.key",
            "--trusted-ca-file", pki / "etcd-ca.crt",
            "--client-cert-auth",
            "--snapshot-count", "10000",
            "--quota-backend-bytes", str(2 * 1024**3),
            "--log-level", "warn",
        ]  # fmt: skip
    if name == "kube-apiserver":
        return [
            b["kube-apiserver"],
            "--advertise-address", ip,
            "--secure-port", layout.API_PORT,
            "--allow-privileged=true",
            "--authorization-mode", "Node,RBAC",
            "--enable-admission-plugins", "NodeRestriction,PodSecurity",
            "--anonymous-auth=true",
            "--client-ca-file", pki / "ca.crt",
            "--tls-cert-file", pki / "apiserver.crt",
            "--tls-private-key-file", pki / "apiserver.key",
            "--etcd-servers", "https://127.0.0.1:2379",
            "--etcd-cafile", pki / "etcd-ca.crt",
            "--etcd-certfile", pki / "apiserver-etcd-client.crt",
            "--etcd-keyfile", pki / "apiserver-etcd-client.key",
            "--kubelet-client-certificate", pki / "apiserver-kubelet-client.crt",
            "--kubelet-client-key", pki / "apiserver-kubelet-client.key",
            "--kubelet-certificate-authority", pki / "ca.crt",
            "--kubelet-preferred-address-types", "InternalIP,Hostname",
            "--proxy-client-cert-file", pki / "front-proxy-client.crt",
            "--proxy-client-key-file", pki / "front-proxy-client.key",
            "--requestheader-client-ca-file", pki / "front-proxy-ca.crt",
            "--requestheader-allowed-names", "front-proxy-client",
            "--requestheader-username-headers", "X-Remote-User",
            "--requestheader-group-headers", "X-Remote-Group",
            "--requestheader-extra-headers-prefix", "X-Remote-Extra-",
            "--service-account-issuer", f"https://kubernetes.default.svc.{layout.CLUSTER_DOMAIN}",
            "--service-account-key-file", pki / "sa.pub",
            "--service-account-signing-key-file", pki / "sa.key",
            "--service-cluster-ip-range", layout.SERVICE_CIDR,
            "--profiling=false",
            "--v", verbosity,
        ]  # fmt: skip
    if name == "kube-controller-manager":
        kubeconfig = state.kubeconfig("kube-controller-manager")
        return [
            b["kube-controller-manager"],
            "--kubeconfig", kubeconfig,
            "--authentication-kubeconfig", kubeconfig,
            "--authorization-kubeconfig", kubeconfig,
            "--bind-address", "127.0.0.1",
            "--client-ca-file", pki / "ca.crt",
            "--requestheader-client-ca-file", pki / "front-proxy-ca.crt",
            "--cluster-name", "remotedev",
            "--cluster-signing-cert-file", pki / "ca.crt",
            "--cluster-signing-key-file", pki / "ca.key",
            "--root-ca-file", pki / "ca.crt",
            "--service-account-private-key-file", pki / "sa.key",
            "--use-service-account-credentials=true",
            "--service-cluster-ip-range", layout.SERVICE_CIDR,
            "--leader-elect=false",
            "--profiling=false",
            "--v", verbosity,
        ]  # fmt: skip
    if name == "kube-scheduler":
        kubeconfig = state.kubeconfig("kube-scheduler")
        return [
            b["kube-scheduler"],
            "--kubeconfig", kubeconfig,
            "--authentication-kubeconfig", kubeconfig,
            "--authorization-kubeconfig", kubeconfig,
            "--bind-address", "127.0.0.1",
            "--leader-elect=false",
            "--profiling=false",
            "--v", verbosity,
        ]  # fmt: skip
    if name == "containerd":
        return [shutil.which("containerd") or "/usr/bin/containerd", "--config", state.containerd_config]
    if name == "kubelet":
        return [
            b["kubelet"],
            "--config", state.kubelet_config,
            "--kubeconfig", state.kubeconfig("kubelet"),
            "--root-dir", state.kubelet,
            "--cert-dir", state.kubelet / "pki",
            "--hostname-override", node,
            "--node-ip", ip,
            "--pod-infra-container-image", pause_ref,
            "--v", verbosity,
        ]  # fmt: skip
    if name == "kube-proxy":
        return [b["kube-proxy"], "--config", state.kube_proxy_config, "--v", verbosity]
    if name == "network-policies":
        return [
            b["network-policies"],
            "-kubeconfig", state.kubeconfig("network-policies"),
            "-hostname-override", node,
            "-metrics-bind-address", layout.NETPOL_METRICS,
            "-pod-interface", layout.BRIDGE,
            "-pod-cidr", layout.POD_SUBNET,
            "-v", verbosity,
        ]  # fmt: skip
    if name == "coredns":
        return [b["coredns"], "-conf", state.corefile]
    if name == "hostpath-provisioner":
        return [
            b["hostpath-provisioner"],
            "-kubeconfig", state.kubeconfig("hostpath-provisioner"),
            "-name", layout.PROVISIONER,
            "-base-dir", state.volumes,
            "-node-name", node,
        ]  # fmt: skip
    if name == "traefik":
        return ingress_argv(b, ip)
    raise KeyError(name)


def ingress_argv(b: Binaries, ip: str) -> list:
    """Traefik with the Kubernetes Ingress provider (KUBECONFIG, see ingress_env):
    web redirects to websecure, which terminates TLS for every router; the
    default certificate comes from the file provider (configs/traefik-dynamic.yml)."""
    state = layout.STATE
    web, websecure = layout.INGRESS_HTTP_PORT, layout.INGRESS_HTTPS_PORT
    timeouts = [
        f"--entrypoints.{entry}.transport.respondingTimeouts.{kind}Timeout={seconds}s"
        for entry in ("web", "websecure")
        for kind, seconds in (("read", layout.INGRESS_READ_TIMEOUT), ("idle", layout.INGRESS_IDLE_TIMEOUT))
    ]
    return [
        b["traefik"],
        f"--entrypoints.web.address=:{web}",
        "--entrypoints.web.asDefault=true",
        "--entrypoints.web.http.redirections.entrypoint.to=websecure",
        "--entrypoints.web.http.redirections.entrypoint.scheme=https",
        f"--entrypoints.websecure.address=:{websecure}",
        "--entrypoints.websecure.asDefault=true",
        "--entrypoints.websecure.http.tls=true",
        *timeouts,
        f"--entrypoints.ping.address={layout.INGRESS_PING}",
        "--ping=true",
        "--ping.entrypoint=ping",
        "--providers.kubernetesingress=true",
        f"--providers.kubernetesingress.ingressendpoint.ip={ip}",
        f"--providers.file.filename={state.ingress_dynamic}",
        "--providers.file.watch=false",
        "--global.checknewversion=false",
        "--global.sendanonymoususage=false",
        "--log.level=" + ("DEBUG" if int(layout.VERBOSITY) > 2 else "INFO"),
        "--log.nocolor=true",
    ]


def env_for(name: str) -> dict[str, str] | None:
    """Extra environment of a component: Traefik reads its kubeconfig from KUBECONFIG only."""
    if name == "traefik":
        return {"KUBECONFIG": str(layout.STATE.kubeconfig("traefik"))}
    return None
