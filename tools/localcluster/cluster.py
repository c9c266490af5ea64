#!/usr/bin/env python
"""A real single-node Kubernetes on this machine, for the tests and the demo.

    cluster.py build      build (or reuse) the cached binaries
    cluster.py up         start everything, wait for the node to be Ready and DNS to answer
    cluster.py down       stop exactly the processes `up` started and clean their network state
    cluster.py restart NAME [--kill]   stop one component (SIGKILL with --kill) and start it again
    cluster.py purge      `down`, then delete the cluster state (etcd, volumes, images, certs)
    cluster.py status     each component: PID, memory, health; the node; the registry
    cluster.py env        KUBECONFIG=... and REGISTRY=... lines for the shell
    cluster.py registry   start only the local image registry
    cluster.py kubectl ARGS...   the cluster's own kubectl with the admin kubeconfig

Everything runs as ordinary background processes: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, containerd (+runc), kubelet,
kube-proxy, a NetworkPolicy engine (kube-network-policies), CoreDNS, a
hostPath provisioner for the default StorageClass and an ingress controller
(Traefik, HTTPS on port 443 with a certificate of the cluster's ingress CA,
HTTP on 80 redirected). Kubernetes, etcd, the engine, CoreDNS and Traefik
are built from Go sources through the Go module proxy
(tools/localcluster/kube, tools/localcluster/addons, tools/localcluster/netpol;
Traefik from its released module, build.INGRESS_VERSION) and cached by
version under the cache directory. PIDs, logs, certificates, configs and data
live in one state directory. Standard library only: it runs before any
virtualenv exists.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

if not __package__:
    # Run as a script: the modules next to this file are the package
    # `localcluster`, imported from the directory above (any cwd works).
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from localcluster import build, configs, health, images, layout, network, pki, processes, registry, status  # noqa: E402
from localcluster.components import COMPONENTS, START_TIMEOUT, argv_for, env_for  # noqa: E402
from localcluster.dns import dns_answers  # noqa: E402
from localcluster.util import ClusterError, log, run, write_file  # noqa: E402

HOST_TOOLS = ("containerd", "containerd-shim-runc-v2", "runc", "ctr", "iptables", "ip", "openssl", "conntrack")


@contextlib.contextmanager
def state_lock():
    """One cluster.py at a time changes the state dir (make runs them in parallel)."""
    root = layout.STATE.root
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log("another cluster.py holds the state lock; waiting for it")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def require_root(command: str) -> None:
    if os.geteuid() != 0:
        raise ClusterError(
            f"`{command}` must run as root: it starts containerd and the kubelet and changes "
            f"network namespaces, iptables and cgroups (try: sudo {sys.executable} {__file__} {command})"
        )


def preflight() -> None:
    missing = [tool for tool in HOST_TOOLS if not shutil.which(tool)]
    if missing:
        raise ClusterError(f"missing on PATH: {', '.join(missing)} (make system-deps installs them)")
    layout.cni_bin_dir()


def print_env(export: bool = False) -> None:
    prefix = "export " if export else ""
    print(f"{prefix}KUBECONFIG={layout.STATE.admin_kubeconfig}")
    print(f"{prefix}REGISTRY={layout.REGISTRY}")


# ---------------------------------------------------------------- up


def check_identity(facts: dict) -> None:
    """Certificates and configs name the node: they may not change under a running cluster."""
    with contextlib.suppress(OSError, ValueError):
        previous = json.loads(layout.STATE.facts.read_text(encoding="utf-8"))
        if previous != facts and any(processes.running_pid(n) for n in COMPONENTS):
            raise ClusterError(
                f"the node's identity changed ({previous} -> {facts}) while the cluster runs; "
                "run `cluster.py down` first"
            )


def already_up(node: str) -> bool:
    return (
        all(processes.running_pid(n) for n in COMPONENTS)
        and all(health.healthy(n) for n in COMPONENTS)
        and health.node_ready(node)
        and dns_answers()
    )


def apply_bootstrap(b: build.Binaries) -> None:
    """Server-side apply of configs/bootstrap.jsonc, retried while the API warms up."""
    deadline = time.monotonic() + 60
    while True:
        result = run(
            [
                b["kubectl"], "--kubeconfig", layout.STATE.admin_kubeconfig, "apply", "--server-side",
                "--field-manager", "remotedev-cluster", "--force-conflicts", "-f", layout.STATE.bootstrap,
            ],
            check=False,
        )  # fmt: skip
        if result.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise ClusterError(f"applying the bootstrap objects failed: {result.stderr.strip()}")
        time.sleep(1)


def start_components(b: build.Binaries, node: str, ip: str, pause_ref: str) -> float:
    """Starts whatever is not running, in order, each healthy before the next;
    returns when the kubelet was started (0 when it already ran)."""
    kubelet_started_at = 0.0
    for name in COMPONENTS:
        if processes.running_pid(name):
            log(f"{name} already running (pid {processes.running_pid(name)})")
        else:
            if name == "kubelet":
                kubelet_started_at = time.time()
            pid = processes.start_process(name, argv_for(name, b, node, ip, pause_ref), env_for(name))
            log(f"started {name} (pid {pid})")
        health.wait_healthy(name, START_TIMEOUT[name])
        if name == "kube-apiserver":
            apply_bootstrap(b)
        if name == "containerd":
            images.ensure_pause_image(b)
    return kubelet_started_at


def wait_ready(node: str, kubelet_started_at: float, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not health.node_ready(node, since=kubelet_started_at):
        if time.monotonic() > deadline:
            raise ClusterError(
                f"node {node} not Ready after {timeout:.0f}s; see {layout.STATE.log_file('kubelet')}:\n"
                f"{processes.log_tail('kubelet')}"
            )
        time.sleep(0.5)
    while not dns_answers():
        if time.monotonic() > deadline:
            raise ClusterError(
                f"cluster DNS ({layout.DNS_SERVICE_IP}) does not answer; see {layout.STATE.log_file('coredns')}"
            )
        time.sleep(0.5)


def cmd_up(_args) -> int:
    require_root("up")
    preflight()
    state = layout.STATE
    t0 = time.monotonic()
    with state_lock():
        b = build.ensure_binaries()
        t_built = time.monotonic()
        registry.start()
        node, ip = layout.node_name(), layout.node_ip()
        facts = {"node_name": node, "node_ip": ip}
        check_identity(facts)
        if already_up(node):
            print(f"cluster already up (node {node} Ready, DNS answers); nothing to do")
            print_env()
            return 0
        pause_ref = images.pause_image_ref(b)
        pki.ensure_pki(state.pki, node, ip)
        configs.write_configs(state, node, ip, pause_ref)
        write_file(state.facts, json.dumps(facts) + "\n")
        network.clear_stale_runtime_state(bool(processes.running_pid("containerd") or processes.runtime_shims()))
        network.prepare_host_network()
        kubelet_started_at = start_components(b, node, ip, pause_ref)
        wait_ready(node, kubelet_started_at)
    took = time.monotonic() - t0
    print(
        f"cluster up in {took:.1f}s ({took - (t_built - t0):.1f}s after the binaries were ready): "
        f"node {node} Ready, DNS answers, Kubernetes {build.kubernetes_version()}"
    )
    print_env()
    return 0


# ---------------------------------------------------------------- down, purge


def stop(names, stopped: list[str], timeout: float = 20) -> None:
    for name in names:
        if processes.stop_process(name, timeout):
            stopped.append(name)


def sweep_pods(b: build.Binaries | None) -> None:
    """Removes every pod sandbox through the CRI, so containerd itself runs CNI
    DEL and removes the network namespaces and mounts of each pod."""
    if not (processes.running_pid("containerd") and b):
        return
    endpoint = layout.STATE.cri_endpoint
    result = run([b["cri-sweep"], "-endpoint", endpoint, "-timeout", "120s"], check=False, timeout=150)
    if result.stdout.strip():
        log(f"removed {len(result.stdout.splitlines())} pod sandbox(es) through the CRI")
    if result.returncode != 0:
        log(f"cri-sweep reported: {result.stderr.strip()}")


def cmd_down(_args) -> int:
    require_root("down")
    with state_lock():
        t0 = time.monotonic()
        stopped: list[str] = []
        # The kubelet first, so that it does not restart the pods swept next.
        stop(("traefik", "hostpath-provisioner", "coredns", "kube-scheduler", "kube-controller-manager", "kubelet"), stopped)
        b = build.cached_binaries()
        sweep_pods(b)
        stop(("containerd",), stopped)
        processes.kill_leftover_shims()
        stop(("network-policies", "kube-proxy"), stopped)
        stop(("kube-apiserver", "etcd"), stopped, timeout=30)
        foreign = processes.foreign_components()
        if foreign:
            log(f"not cleaning host network state: used by {', '.join(foreign)}, not started from {layout.STATE.root}")
        else:
            network.clean_host_network(b["kube-proxy"] if b else None, b["network-policies"] if b else None)
        network.release_state()
    print(f"cluster down in {time.monotonic() - t0:.1f}s (stopped: {', '.join(stopped) or 'nothing was running'})")
    print("the local registry keeps running (scripts/local-registry stop ends it); state kept in", layout.STATE.root)
    return 0


def cmd_purge(args) -> int:
    require_root("purge")
    cmd_down(args)
    root = layout.STATE.root
    with state_lock():
        network.unmount_state()
        for entry in root.iterdir():
            if entry.name != ".lock":
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
    print(f"cluster state removed ({root}); cached binaries kept in {layout.BIN_CACHE}")
    return 0


# ---------------------------------------------------------------- restart


def wait_exited(pid: int, timeout: float = 30) -> None:
    """Until every thread of a stopped process is gone: its leader turns zombie
    while the other threads still exit and hold its sockets (the new one would
    find its port in use)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
        except OSError:
            return
        threads = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("Threads:")), 0)
        if "\nState:\tZ" in status and threads <= 1:
            return
        time.sleep(0.05)
    raise ClusterError(f"process {pid} still has threads {timeout:.0f}s after it was stopped")


def cmd_restart(args) -> int:
    """One component down and up again, the rest running: the fault scenarios'
    API server restart in the middle of a converge (extensions/molecule/default/faults.yml)."""
    require_root("restart")
    name = args.component
    with state_lock():
        b = build.cached_binaries()
        pid = processes.running_pid(name)
        if not (b and pid):
            raise ClusterError(f"{name} is not running (cluster.py up starts the cluster)")
        t0 = time.monotonic()
        if args.kill:
            # A crash, not a shutdown: no chance to drain requests or close watches.
            os.kill(pid, signal.SIGKILL)
        processes.stop_process(name, timeout=30)
        wait_exited(pid)
        t_stopped = time.monotonic()
        new_pid = processes.start_process(
            name, argv_for(name, b, layout.node_name(), layout.node_ip(), images.pause_image_ref(b)), env_for(name)
        )
        health.wait_healthy(name, START_TIMEOUT[name])
    now = time.monotonic()
    print(f"{name} restarted: pid {pid} {'killed' if args.kill else 'stopped'} in {t_stopped - t0:.1f}s, "
          f"pid {new_pid} healthy {now - t_stopped:.1f}s later")
    return 0


# ---------------------------------------------------------------- the others


def cmd_build(_args) -> int:
    b = build.ensure_binaries()
    for each in build.all_builds():
        directory = each.cached()
        meta = json.loads((directory / "build.json").read_text(encoding="utf-8"))
        print(f"{each.name} {each.version}: {directory} (built in {meta['seconds']}s on {meta['built_at']})")
    print(f"pause image: {images.pause_image_ref(b)}")
    return 0


def cmd_status(args) -> int:
    return status.report(args.json)


def cmd_env(args) -> int:
    print_env(args.export)
    if not processes.running_pid("kube-apiserver"):
        log("the cluster is not running (cluster.py up starts it)")
    return 0


def cmd_registry(_args) -> int:
    registry.start()
    print(f"REGISTRY={layout.REGISTRY}")
    return 0


def cmd_kubectl(args: list[str]) -> int:
    b = build.cached_binaries()
    if not b:
        raise ClusterError("binaries not built yet: cluster.py build")
    return subprocess.call([str(b["kubectl"]), "--kubeconfig", str(layout.STATE.admin_kubeconfig), *args])


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = result.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="build or reuse the cached binaries").set_defaults(func=cmd_build)
    commands.add_parser("up", help="start the cluster (idempotent)").set_defaults(func=cmd_up)
    commands.add_parser("down", help="stop the cluster, clean its network state").set_defaults(func=cmd_down)
    commands.add_parser("purge", help="down, then delete all cluster state").set_defaults(func=cmd_purge)
    restart = commands.add_parser("restart", help="stop one component and start it again")
    restart.add_argument("component", choices=COMPONENTS)
    restart.add_argument("--kill", action="store_true", help="SIGKILL instead of SIGTERM (a crash)")
    restart.set_defaults(func=cmd_restart)
    status_parser = commands.add_parser("status", help="show each component")
    status_parser.add_argument("--json", action="store_true")
    status_parser.set_defaults(func=cmd_status)
    env = commands.add_parser("env", help="print KUBECONFIG= and REGISTRY= lines")
    env.add_argument("--export", action="store_true", help="prefix the lines with `export`")
    env.set_defaults(func=cmd_env)
    commands.add_parser("registry", help="start only the local registry").set_defaults(func=cmd_registry)
    commands.add_parser("kubectl", help="kubectl with the admin kubeconfig: cluster.py kubectl get pods -A")
    return result


def main(argv=None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `cluster.py status | head` ends quietly
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["kubectl"]:  # everything after it belongs to kubectl
            return cmd_kubectl(argv[1:])
        args = parser().parse_args(argv)
        return args.func(args)
    except ClusterError as error:
        log(f"error: {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
