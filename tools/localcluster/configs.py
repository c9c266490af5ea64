"""The components' configuration files: data files in configs/, filled in with
string.Template (`${name}`; TOML, JSON and the Corefile are full of braces, so
not str.format) and written into the state directory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from string import Template

from . import layout, pki
from .util import ClusterError, write_file

TEMPLATES = layout.TOOL_DIR / "configs"


def destinations(state: layout.Layout) -> dict[str, Path]:
    """Each template in configs/ and the file of the state dir it is rendered to."""
    return {
        "containerd.toml": state.containerd_config,
        "registry-hosts.toml": state.registry_hosts,
        "cni.conflist": state.cni_conflist,
        "kubelet.jsonc": state.kubelet_config,
        "kube-proxy.jsonc": state.kube_proxy_config,
        "Corefile": state.corefile,
        "bootstrap.jsonc": state.bootstrap,
        "traefik-dynamic.yml": state.ingress_dynamic,
    }


def template_values(state: layout.Layout, node: str, ip: str, pause_ref: str) -> dict[str, str]:
    """Every name a template may use: state paths, host programs, the cluster's addresses."""
    values = {
        "state": state.root,
        "pki": state.pki,
        "config": state.config,
        "run": state.run,
        "containerd": state.containerd,
        "containerd_sock": state.containerd_sock,
        "kubelet": state.kubelet,
        "pod_logs": state.pod_logs,
        "cni_conf": state.cni_conf,
        "cni_ipam": state.cni_ipam,
        "runc": shutil.which("runc") or "/usr/bin/runc",
        "cni_bin_dir": layout.cni_bin_dir(),
        "node": node,
        "node_ip": ip,
        "pause_ref": pause_ref,
        "registry": layout.REGISTRY,
        "cluster_domain": layout.CLUSTER_DOMAIN,
        "cluster_cidr": layout.CLUSTER_CIDR,
        "pod_subnet": layout.POD_SUBNET,
        "pod_gateway": layout.POD_GATEWAY,
        "bridge": layout.BRIDGE,
        "cni_network": layout.CNI_NETWORK,
        "dns_service_ip": layout.DNS_SERVICE_IP,
        "coredns_health": layout.COREDNS_HEALTH,
        "coredns_ready": layout.COREDNS_READY,
        "provisioner": layout.PROVISIONER,
        "storage_class": layout.STORAGE_CLASS,
        "ingress_class": layout.INGRESS_CLASS,
        "ingress_controller": layout.INGRESS_CONTROLLER,
    }
    return {name: str(value) for name, value in values.items()}


def is_json(name: str) -> bool:
    return name.endswith((".jsonc", ".conflist"))


def render(name: str, values: dict[str, str]) -> str:
    """The text of one template with `values` filled in.

    JSON templates may carry whole-line `//` comments (dropped here); values go
    in JSON-escaped, and the result is parsed and dumped again, so what is
    written is always valid JSON, laid out the same whatever the template's
    layout."""
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    if not is_json(name):
        return Template(text).substitute(values)
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))
    escaped = {key: json.dumps(value)[1:-1] for key, value in values.items()}
    try:
        data = json.loads(Template(text).substitute(escaped))
    except ValueError as error:
        raise ClusterError(f"configs/{name} does not render to JSON: {error}") from error
    return json.dumps(data, indent=2) + "\n"


def write_configs(state: layout.Layout, node: str, ip: str, pause_ref: str) -> None:
    """The state dir's directories, and every rendered configuration in it."""
    for directory in (
        state.config,
        state.logs,
        state.pids,
        state.run,
        state.containerd,
        state.kubelet,
        state.pod_logs,
        state.cni_conf,
        state.cni_ipam,
    ):
        directory.mkdir(parents=True, exist_ok=True)
    # Root-only parents: volumes are mode 0777 for the pods, etcd holds every Secret.
    for private in (state.volumes, state.etcd):
        private.mkdir(parents=True, exist_ok=True)
        private.chmod(0o700)
    pki.write_kubeconfigs(state)
    values = template_values(state, node, ip, pause_ref)
    for name, path in destinations(state).items():
        write_file(path, render(name, values))
