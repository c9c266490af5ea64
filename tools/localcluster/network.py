"""What `up` changes on the host and `down` takes back: sysctls, the pod
bridge and the Service route, iptables rules, mounts under the state dir,
kubepods cgroups, /var/log/containers links."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
from pathlib import Path

from . import layout
from .util import ClusterError, log, run


def sysctl(key: str, value: str) -> None:
    """Sets a sysctl only when it differs, and says so."""
    path = Path("/proc/sys") / key.replace(".", "/")
    if not path.exists():
        raise ClusterError(f"sysctl {key} is missing (kernel module not loaded?)")
    if path.read_text(encoding="utf-8").strip() != value:
        path.write_text(value + "\n", encoding="utf-8")
        log(f"set {key}={value}")


def bridge_exists() -> bool:
    return run(["ip", "link", "show", layout.BRIDGE], check=False).returncode == 0


def prepare_host_network() -> None:
    sysctl("net.ipv4.ip_forward", "1")
    # Pod-to-Service traffic that comes back to the same bridge must pass
    # kube-proxy's iptables rules.
    sysctl("net.bridge.bridge-nf-call-iptables", "1")
    if not bridge_exists():
        run(["ip", "link", "add", layout.BRIDGE, "type", "bridge"])
        run(["ip", "addr", "add", f"{layout.POD_GATEWAY}/{layout.POD_SUBNET.split('/')[1]}", "dev", layout.BRIDGE])
        run(["ip", "link", "set", layout.BRIDGE, "up"])
    # The host reaches ClusterIPs through kube-proxy's OUTPUT rules; without a
    # default route the kernel would refuse the connection before those run.
    if run(["ip", "route", "get", layout.API_SERVICE_IP], check=False).returncode != 0:
        run(["ip", "route", "replace", layout.SERVICE_CIDR, "dev", layout.BRIDGE, "src", layout.POD_GATEWAY])


def iptables_rules(binary: str, table: str) -> list[str]:
    result = run([f"{binary}-save", "-t", table], check=False)
    return result.stdout.splitlines() if result.returncode == 0 else []


def cni_rules_to_delete(rules: list[str], network: str) -> tuple[list[list[str]], list[str]]:
    """From iptables-save lines: the rule specs the bridge/portmap plugins made for
    `network` (their comment names it), and the CNI- chains those rules jump to."""
    marker = f'name: \\"{network}\\"'
    specs, chains = [], set()
    for line in rules:
        if line.startswith("-A ") and marker in line:
            spec = shlex.split(line)[1:]
            specs.append(spec)
            if "-j" in spec and spec[spec.index("-j") + 1].startswith("CNI-"):
                chains.add(spec[spec.index("-j") + 1])
    return specs, sorted(chains)


def cleanup_cni_iptables() -> None:
    """Rules and chains the CNI plugins made for this network and that CNI DEL missed."""
    for table in ("nat", "filter"):
        specs, chains = cni_rules_to_delete(iptables_rules("iptables", table), layout.CNI_NETWORK)
        for spec in specs:
            run(["iptables", "-t", table, "-D", *spec], check=False)
        for chain in chains:
            run(["iptables", "-t", table, "-F", chain], check=False)
            run(["iptables", "-t", table, "-X", chain], check=False)


def cleanup_kube_iptables() -> None:
    """Chains the kubelet and kube-proxy make that `kube-proxy --cleanup` leaves behind."""
    chains = ("KUBE-FIREWALL", "KUBE-KUBELET-CANARY", "KUBE-IPTABLES-HINT")
    for binary in ("iptables", "ip6tables"):
        for table in ("mangle", "nat", "filter"):
            rules = iptables_rules(binary, table)
            for chain in chains:
                if not any(line.startswith(f":{chain} ") for line in rules):
                    continue
                for line in rules:
                    if line.startswith("-A ") and line.endswith(f"-j {chain}"):
                        run([binary, "-t", table, "-D", *shlex.split(line)[1:]], check=False)
                run([binary, "-t", table, "-F", chain], check=False)
                run([binary, "-t", table, "-X", chain], check=False)


def clean_host_network(kube_proxy: Path | None, network_policies: Path | None = None) -> None:
    """Everything the cluster's networking left on the host: kube-proxy's rules
    (through its own --cleanup), the policy engine's (left behind when it was
    killed: its -cleanup), the plugins' and the kubelet's, the bridge, the empty
    kubepods cgroups."""
    if kube_proxy:
        run([kube_proxy, "--cleanup", "--v", "0"], check=False, timeout=120)
    if network_policies:
        run([network_policies, "-cleanup"], check=False, timeout=30)
    cleanup_cni_iptables()
    cleanup_kube_iptables()
    if bridge_exists():
        run(["ip", "link", "delete", layout.BRIDGE], check=False)
    remove_empty_cgroups()


def mounts_under(root: Path, mountinfo: str | None = None) -> list[str]:
    """Mount points at or below `root` (from /proc/self/mountinfo, octal escapes decoded)."""
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text(encoding="utf-8")
        except OSError:
            return []
    prefix = str(root) + "/"
    found = []
    for line in mountinfo.splitlines():
        mountpoint = line.split()[4].encode().decode("unicode_escape")
        if mountpoint == str(root) or mountpoint.startswith(prefix):
            found.append(mountpoint)
    return found


def unmount_state(root: Path | None = None) -> None:
    """Unmounts everything under the state dir, deepest first (lazily if busy);
    a few rounds, since unmounting one may reveal another below it."""
    for _attempt in range(3):
        mountpoints = sorted(set(mounts_under(root or layout.STATE.root)), key=len, reverse=True)
        if not mountpoints:
            return
        for mountpoint in mountpoints:
            if run(["umount", mountpoint], check=False).returncode != 0:
                run(["umount", "-l", mountpoint], check=False)


def remove_empty_cgroups() -> None:
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        top = hierarchy / "kubepods"
        if not top.is_dir():
            continue
        for directory in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                directory.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()


def remove_container_log_links() -> None:
    """The kubelet's /var/log/containers links into this cluster's pod logs."""
    links = Path("/var/log/containers")
    if not links.is_dir():
        return
    for link in links.iterdir():
        if link.is_symlink() and os.readlink(link).startswith(str(layout.STATE.pod_logs) + "/"):
            link.unlink(missing_ok=True)


def release_state() -> None:
    """What `down` removes from the state dir besides the processes: mounts, IP
    allocations, log links, the runtime's run directory."""
    state = layout.STATE
    unmount_state()
    shutil.rmtree(state.cni_ipam / layout.CNI_NETWORK, ignore_errors=True)
    remove_container_log_links()
    shutil.rmtree(state.run, ignore_errors=True)


def clear_stale_runtime_state(containerd_running: bool) -> None:
    """After a reboot or a crash: the runtime's state dir must not outlive its processes."""
    if containerd_running:
        return
    state = layout.STATE
    unmount_state(state.run)
    shutil.rmtree(state.run, ignore_errors=True)
    state.run.mkdir(parents=True, exist_ok=True)
