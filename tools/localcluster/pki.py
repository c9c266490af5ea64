"""Certificates (made with openssl) and the kubeconfigs that carry them.

Every component authenticates with a client certificate of its own; the
functions take the pki directory so that tests can make a PKI anywhere.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from pathlib import Path

from . import layout
from .util import run, write_file

CERT_DAYS = 365
RENEW_BEFORE_SECONDS = 30 * 24 * 3600


def openssl(*args) -> None:
    run(["openssl", *args])


def new_key(path: Path, rsa: bool = False) -> None:
    # EC keys are quick to make; the service-account key is RSA because
    # that is what every token consumer accepts.
    if rsa:
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path)
    else:
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)
    path.chmod(0o600)


def new_ca(pki: Path, name: str, common_name: str) -> None:
    key, crt = pki / f"{name}.key", pki / f"{name}.crt"
    if crt.exists() and key.exists():
        return
    new_key(key)
    openssl(
        "req", "-x509", "-new", "-key", key, "-sha256", "-days", "3650", "-subj", f"/CN={common_name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign",
        "-out", crt,
    )  # fmt: skip


def cert_is_current(crt: Path, subject_line: str, sans: list[str]) -> bool:
    """Not near expiry, and made for this identity (the record next to it says so)."""
    if not crt.exists():
        return False
    if run(["openssl", "x509", "-checkend", str(RENEW_BEFORE_SECONDS), "-noout", "-in", crt], check=False).returncode:
        return False
    meta = crt.with_suffix(".json")
    try:
        recorded = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return recorded == {"subject": subject_line, "sans": sans}


def subject(common_name: str, orgs=()) -> str:
    return "".join(f"/O={o}" for o in orgs) + f"/CN={common_name}"


def extensions(client: bool, server: bool, sans: list[str]) -> list[str]:
    usages = ",".join(u for u, on in (("serverAuth", server), ("clientAuth", client)) if on)
    lines = [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        f"extendedKeyUsage={usages}",
        "authorityKeyIdentifier=keyid",
    ]
    if sans:
        lines.append("subjectAltName=" + ",".join(sans))
    return lines


def new_cert(pki: Path, name: str, ca: str, common_name: str, orgs=(), client=False, server=False, sans=()) -> None:
    """A key and a certificate signed by `ca`, renewed when the identity changes or expiry nears."""
    key, crt = pki / f"{name}.key", pki / f"{name}.crt"
    subject_line = subject(common_name, orgs)
    sans = list(sans)
    if key.exists() and cert_is_current(crt, subject_line, sans):
        return
    if not key.exists():
        new_key(key)
    with tempfile.TemporaryDirectory() as tmp:
        csr, ext = Path(tmp) / "csr", Path(tmp) / "ext"
        ext.write_text("[v3]\n" + "\n".join(extensions(client, server, sans)) + "\n", encoding="utf-8")
        openssl("req", "-new", "-key", key, "-subj", subject_line, "-out", csr)
        openssl(
            "x509", "-req", "-in", csr, "-CA", pki / f"{ca}.crt", "-CAkey", pki / f"{ca}.key",
            "-set_serial", str(int.from_bytes(os.urandom(16), "big") >> 1), "-sha256", "-days", str(CERT_DAYS),
            "-extfile", ext, "-extensions", "v3", "-out", crt,
        )  # fmt: skip
    crt.with_suffix(".json").write_text(json.dumps({"subject": subject_line, "sans": sans}) + "\n", encoding="utf-8")


def apiserver_sans(node: str, ip: str) -> list[str]:
    """Every name a client may use for the API: in-cluster, from the host, by node."""
    names = [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        f"kubernetes.default.svc.{layout.CLUSTER_DOMAIN}",
        "localhost",
        node,
    ]
    return [f"DNS:{n}" for n in names] + [f"IP:{a}" for a in ("127.0.0.1", layout.API_SERVICE_IP, ip)]


def kubelet_server_sans(node: str, ip: str) -> list[str]:
    return [f"DNS:{node}", f"IP:{ip}", "IP:127.0.0.1"]


def ensure_pki(pki: Path, node: str, ip: str) -> None:
    pki.mkdir(parents=True, exist_ok=True)
    pki.chmod(0o700)
    new_ca(pki, "ca", "remotedev-cluster-ca")
    new_ca(pki, "etcd-ca", "remotedev-etcd-ca")
    new_ca(pki, "front-proxy-ca", "remotedev-front-proxy-ca")
    if not (pki / "sa.key").exists():
        new_key(pki / "sa.key", rsa=True)
        openssl("pkey", "-in", pki / "sa.key", "-pubout", "-out", pki / "sa.pub")
    new_cert(pki, "apiserver", "ca", "kube-apiserver", server=True, sans=apiserver_sans(node, ip))
    new_cert(pki, "apiserver-kubelet-client", "ca", "kube-apiserver-kubelet-client", ["system:masters"], client=True)
    new_cert(pki, "apiserver-etcd-client", "etcd-ca", "kube-apiserver-etcd-client", client=True)
    new_cert(pki, "etcd-server", "etcd-ca", "etcd", server=True, client=True, sans=["DNS:localhost", "IP:127.0.0.1"])
    new_cert(pki, "front-proxy-client", "front-proxy-ca", "front-proxy-client", client=True)
    new_cert(pki, "admin", "ca", "kubernetes-admin", ["system:masters"], client=True)
    new_cert(pki, "kube-controller-manager", "ca", "system:kube-controller-manager", client=True)
    new_cert(pki, "kube-scheduler", "ca", "system:kube-scheduler", client=True)
    new_cert(pki, "kube-proxy", "ca", "system:kube-proxy", client=True)
    new_cert(pki, "kubelet-client", "ca", f"system:node:{node}", ["system:nodes"], client=True)
    new_cert(pki, "kubelet-server", "ca", node, server=True, sans=kubelet_server_sans(node, ip))
    new_cert(pki, "coredns", "ca", "remotedev:coredns", client=True)
    new_cert(pki, "hostpath-provisioner", "ca", "remotedev:hostpath-provisioner", client=True)
    new_cert(pki, "network-policies", "ca", "remotedev:network-policies", client=True)
    new_cert(pki, "traefik", "ca", "remotedev:traefik", client=True)
    # A CA of its own: clients trust it for the ingress's names only, never
    # for the cluster's client certificates.
    new_ca(pki, "ingress-ca", "remotedev-ingress-ca")
    new_cert(pki, "ingress", "ingress-ca", layout.INGRESS_DOMAIN, server=True, sans=ingress_sans(ip))


def ingress_sans(ip: str) -> list[str]:
    """The ingress's names (team-a.jupyter.localhost, localhost) and the host's addresses."""
    return [f"DNS:{n}" for n in layout.INGRESS_NAMES] + [f"IP:{a}" for a in ("127.0.0.1", ip)]


def kubeconfig_text(pki: Path, user: str, cert: str, embed: bool) -> str:
    """A kubeconfig for one user of the API; with `embed`, certificates inline."""

    def field(kind: str, path: Path) -> dict:
        if embed:
            return {f"{kind}-data": base64.b64encode(path.read_bytes()).decode()}
        return {kind: str(path)}

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "remotedev",
                "cluster": {
                    "server": f"https://127.0.0.1:{layout.API_PORT}",
                    **field("certificate-authority", pki / "ca.crt"),
                },
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    **field("client-certificate", pki / f"{cert}.crt"),
                    **field("client-key", pki / f"{cert}.key"),
                },
            }
        ],
        "contexts": [{"name": f"{user}@remotedev", "context": {"cluster": "remotedev", "user": user}}],
        "current-context": f"{user}@remotedev",
    }
    return json.dumps(config, indent=2) + "\n"


def write_kubeconfigs(state: layout.Layout) -> None:
    for user in (
        "kube-controller-manager",
        "kube-scheduler",
        "kube-proxy",
        "coredns",
        "hostpath-provisioner",
        "network-policies",
        "traefik",
    ):
        write_file(state.kubeconfig(user), kubeconfig_text(state.pki, user, user, embed=False), 0o600)
    write_file(state.kubeconfig("kubelet"), kubeconfig_text(state.pki, "kubelet", "kubelet-client", embed=False), 0o600)
    # The admin kubeconfig carries its certificates: it can be copied elsewhere.
    write_file(state.admin_kubeconfig, kubeconfig_text(state.pki, "admin", "admin", embed=True), 0o600)
