#!/usr/bin/env python
"""A real single-node Kubernetes on this machine, for the tests and the demo.

    cluster.py build      build (or reuse) the cached binaries
    cluster.py up         start everything, wait for the node to be Ready and DNS to answer
    cluster.py down       stop exactly the processes `up` started and clean their network state
    cluster.py purge      `down`, then delete the cluster state (etcd, volumes, images, certs)
    cluster.py status     each component: PID, memory, health; the node; the registry
    cluster.py env        KUBECONFIG=... and REGISTRY=... lines for the shell
    cluster.py registry   start only the local image registry
    cluster.py kubectl ARGS...   the cluster's own kubectl with the admin kubeconfig

Everything runs as ordinary background processes: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, containerd (+runc), kubelet,
kube-proxy, CoreDNS and a hostPath provisioner for the default StorageClass.
Kubernetes, etcd and CoreDNS are built from Go sources through the Go module
proxy (tools/localcluster/kube, tools/localcluster/addons) and cached by version under
the cache directory. PIDs, logs, certificates, configs and data live in one
state directory. Standard library only: it runs before any virtualenv exists.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import io
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
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
PROVISIONER = "remotedev.local/hostpath"
STORAGE_CLASS = "standard"
CERT_DAYS = 365
RENEW_BEFORE_SECONDS = 30 * 24 * 3600

# Start order; `down` stops in reverse with the runtime swept in between.
COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "containerd",
    "kubelet",
    "kube-proxy",
    "coredns",
    "hostpath-provisioner",
)
KUBE_COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "kubectl",
)
ADDON_COMPONENTS = ("coredns", "hostpath-provisioner", "cri-sweep")


class ClusterError(Exception):
    """A failure with a message meant for the user."""


def log(message: str) -> None:
    print(f"cluster: {message}", file=sys.stderr, flush=True)


def run(argv, check=True, capture=True, env=None, timeout=None, input_text=None):
    """Runs a command; on failure raises ClusterError with its output."""
    result = subprocess.run(
        [str(a) for a in argv],
        check=False,
        capture_output=capture,
        text=True,
        env=env,
        timeout=timeout,
        input=input_text,
    )
    if check and result.returncode != 0:
        output = ((result.stdout or "") + (result.stderr or "")).strip()
        raise ClusterError(f"{shlex.join(str(a) for a in argv)} failed ({result.returncode}): {output[-2000:]}")
    return result


# ---------------------------------------------------------------- build


def module_version(go_mod: Path, module: str) -> str:
    """The version go.mod requires (or replaces) for a module."""
    text = go_mod.read_text(encoding="utf-8")
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", text, re.M)
    if not match:
        raise ClusterError(f"{go_mod} does not require {module}")
    return match.group(1)


def kubernetes_version() -> str:
    return module_version(HERE / "kube" / "go.mod", "k8s.io/kubernetes")


def kube_ldflags(version: str) -> str:
    major, minor = version.lstrip("v").split(".")[:2]
    pairs = {
        "k8s.io/component-base/version.gitVersion": version,
        "k8s.io/component-base/version.gitMajor": major,
        "k8s.io/component-base/version.gitMinor": minor,
        "k8s.io/component-base/version.gitTreeState": "clean",
        "k8s.io/component-base/version.buildDate": "2026-01-01T00:00:00Z",
        "k8s.io/client-go/pkg/version.gitVersion": version,
        "k8s.io/client-go/pkg/version.gitMajor": major,
        "k8s.io/client-go/pkg/version.gitMinor": minor,
    }
    return "-s -w " + " ".join(f"-X {k}={v}" for k, v in pairs.items())


def go_binary() -> str:
    """`go` from PATH, else the usual install location (sudo resets PATH)."""
    for candidate in (shutil.which("go"), "/usr/local/go/bin/go", str(Path.home() / "go" / "bin" / "go")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise ClusterError("Go is needed to build the cluster binaries and was not found (PATH, /usr/local/go/bin)")


class Build:
    """One cached `go build` of a module directory into BIN_CACHE/<name>-<version>-<hash>/."""

    def __init__(self, name: str, module_dir: Path, version: str, outputs: dict[str, tuple[str, str]]):
        # outputs: file name -> (package, ldflags)
        self.name = name
        self.module_dir = module_dir
        self.version = version
        self.outputs = outputs

    def go_version(self) -> str:
        return run([go_binary(), "env", "GOVERSION"]).stdout.strip()

    def key(self) -> str:
        digest = hashlib.sha256()
        digest.update(self.go_version().encode())
        for path in sorted(self.module_dir.rglob("*")):
            if path.is_file() and (path.suffix == ".go" or path.name in ("go.mod", "go.sum")):
                digest.update(str(path.relative_to(self.module_dir)).encode() + b"\0")
                digest.update(path.read_bytes())
        for out, (package, ldflags) in sorted(self.outputs.items()):
            digest.update(f"{out}\0{package}\0{ldflags}\0".encode())
        return f"{self.name}-{self.version}-{digest.hexdigest()[:12]}"

    def directory(self) -> Path:
        return BIN_CACHE / self.key()

    def cached(self) -> Path | None:
        directory = self.directory()
        if (directory / "build.json").is_file() and all((directory / o).is_file() for o in self.outputs):
            return directory
        return None

    def ensure(self) -> Path:
        directory = self.cached()
        if directory:
            return directory
        directory = self.directory()
        BIN_CACHE.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=BIN_CACHE))
        env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-buildvcs=false")
        started = time.monotonic()
        try:
            for out, (package, ldflags) in self.outputs.items():
                log(f"building {out} ({self.name} {self.version}) from Go sources; the first build takes minutes")
                t0 = time.monotonic()
                result = subprocess.run(
                    [go_binary(), "build", "-trimpath", "-ldflags", ldflags, "-o", str(work / out), package],
                    cwd=self.module_dir,
                    env=env,
                    check=False,
                    capture_output=True,
                    text=True,
                )
                if result.returncode != 0:
                    raise ClusterError(f"go build of {out} failed:\n{(result.stdout + result.stderr)[-4000:]}")
                log(f"built {out} in {time.monotonic() - t0:.0f}s")
            meta = {
                "name": self.name,
                "version": self.version,
                "go": self.go_version(),
                "seconds": round(time.monotonic() - started, 1),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "gocache": run([go_binary(), "env", "GOCACHE"]).stdout.strip(),
            }
            (work / "build.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            if directory.exists():
                shutil.rmtree(directory)
            work.rename(directory)
        finally:
            if work.exists():
                shutil.rmtree(work, ignore_errors=True)
        # Older builds of the same binaries are dead weight (hundreds of MB).
        for other in BIN_CACHE.glob(f"{self.name}-*"):
            if other != directory and other.is_dir() and not other.name.startswith("."):
                shutil.rmtree(other, ignore_errors=True)
        return directory


def kube_build() -> Build:
    version = kubernetes_version()
    return Build("kube", HERE / "kube", version, {"kube": (".", kube_ldflags(version))})


def addons_build() -> Build:
    version = "coredns-" + module_version(HERE / "addons" / "go.mod", "github.com/coredns/coredns")
    return Build(
        "addons",
        HERE / "addons",
        version,
        {"cluster-addons": (".", "-s -w"), "pause": ("./pause", "-s -w")},
    )


class Binaries:
    """Paths of the built programs; each component is a symlink named after it."""

    def __init__(self, kube_dir: Path, addons_dir: Path):
        self.kube_dir = kube_dir
        self.addons_dir = addons_dir
        for name in KUBE_COMPONENTS:
            self._link(kube_dir, "kube", name)
        for name in ADDON_COMPONENTS:
            self._link(addons_dir, "cluster-addons", name)

    @staticmethod
    def _link(directory: Path, target: str, name: str) -> None:
        link = directory / name
        if not link.is_symlink():
            tmp = directory / f".{name}.tmp"
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(target)
            tmp.rename(link)

    def __getitem__(self, name: str) -> Path:
        if name in KUBE_COMPONENTS:
            return self.kube_dir / name
        if name in ADDON_COMPONENTS or name == "pause":
            return self.addons_dir / name
        raise KeyError(name)


def ensure_binaries() -> Binaries:
    return Binaries(kube_build().ensure(), addons_build().ensure())


def cached_binaries() -> Binaries | None:
    kube, addons = kube_build().cached(), addons_build().cached()
    return Binaries(kube, addons) if kube and addons else None


# ---------------------------------------------------------------- layout and host facts


class Layout:
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

    def kubeconfig(self, user: str) -> Path:
        return self.config / f"{user}.kubeconfig"

    @property
    def cri_endpoint(self) -> str:
        return f"unix://{self.containerd_sock}"


L = Layout(STATE_DIR)


def node_name() -> str:
    return (os.environ.get("REMOTEDEV_CLUSTER_NODE_NAME") or socket.gethostname()).split(".")[0].lower()


def node_ip() -> str:
    """The host's primary IPv4 address (the one of its default route)."""
    if os.environ.get("REMOTEDEV_CLUSTER_NODE_IP"):
        return os.environ["REMOTEDEV_CLUSTER_NODE_IP"]
    routes = json.loads(run(["ip", "-j", "-4", "route", "show", "default"]).stdout or "[]")
    devices = [r["dev"] for r in routes if r.get("dev")]
    links = json.loads(run(["ip", "-j", "-4", "addr", "show"]).stdout or "[]")
    skip = re.compile(r"^(lo|docker\d*|cni-podman\d*|podman\d*|veth.*|" + re.escape(BRIDGE) + r")$")
    candidates = sorted(links, key=lambda link: link["ifname"] not in devices)
    for link in candidates:
        if skip.match(link["ifname"]):
            continue
        for addr in link.get("addr_info", []):
            if addr.get("family") == "inet" and addr.get("scope") == "global":
                return addr["local"]
    raise ClusterError("no global IPv4 address found for the node; set REMOTEDEV_CLUSTER_NODE_IP")


# ---------------------------------------------------------------- processes


def proc_start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def pid_record(name: str) -> dict | None:
    try:
        return json.loads((L.pids / f"{name}.pid").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def running_pid(name: str) -> int | None:
    """The PID `up` recorded for a component, if that very process still runs."""
    record = pid_record(name)
    if not record:
        return None
    pid = record["pid"]
    start = proc_start_time(pid)
    if start is None or start != record["start"]:
        return None
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return None
    if re.search(r"^State:\s+Z", status, re.M):
        return None
    return pid


def start_process(name: str, argv: list, env_extra: dict | None = None) -> int:
    L.logs.mkdir(parents=True, exist_ok=True)
    L.pids.mkdir(parents=True, exist_ok=True)
    log_path = L.logs / f"{name}.log"
    if log_path.exists() and log_path.stat().st_size > 64 * 1024 * 1024:
        log_path.replace(log_path.with_suffix(".log.1"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECONFIG", "NOTIFY_SOCKET"))}
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    env.update(env_extra or {})
    with open(log_path, "ab") as out:
        out.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(str(a) for a in argv)}\n".encode())
        out.flush()
        # A session of its own: the cluster outlives the shell or make that
        # started it and ignores their signals.
        process = subprocess.Popen(
            [str(a) for a in argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=L.root,
            env=env,
            start_new_session=True,
        )
    start = None
    for _attempt in range(50):
        start = proc_start_time(process.pid)
        if start:
            break
        time.sleep(0.01)
    record = {"pid": process.pid, "start": start, "argv": [str(a) for a in argv]}
    (L.pids / f"{name}.pid").write_text(json.dumps(record) + "\n", encoding="utf-8")
    return process.pid


def stop_process(name: str, timeout: float = 20) -> bool:
    pid = running_pid(name)
    if pid is None:
        (L.pids / f"{name}.pid").unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running_pid(name) == pid:
        time.sleep(0.1)
    if running_pid(name) == pid:
        log(f"{name} (pid {pid}) ignored SIGTERM for {timeout:.0f}s; sending SIGKILL")
        os.kill(pid, signal.SIGKILL)
        while running_pid(name) == pid:
            time.sleep(0.1)
    (L.pids / f"{name}.pid").unlink(missing_ok=True)
    return True


def log_tail(name: str, lines: int = 25) -> str:
    try:
        text = (L.logs / f"{name}.log").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def children_of(pid: int) -> list[int]:
    """All descendants of a process."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def runtime_shims() -> list[int]:
    """containerd-shim processes of this cluster's containerd (found by its socket address)."""
    address = str(L.containerd_sock)
    shims = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"containerd-shim-runc-v2") and address.encode() in argv:
            shims.append(int(entry.name))
    return shims


def foreign_components() -> list[str]:
    """Kubernetes node components running on this host that this state dir did not start
    (another state dir's cluster): `down` must not clean the network state they use."""
    ours = {running_pid(name) for name in COMPONENTS}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in ours:
            continue
        try:
            comm = (entry / "comm").read_text(encoding="utf-8").strip()
        except OSError:
            continue
        if comm in ("kubelet", "kube-proxy"):
            found.append(f"{comm} (pid {entry.name})")
    return found


def cluster_pids() -> dict[str, list[int]]:
    """Every process of the running cluster: components, runtime shims and the pods under them."""
    result: dict[str, list[int]] = {}
    for name in COMPONENTS:
        pid = running_pid(name)
        if pid:
            result[name] = [pid]
    shims = runtime_shims()
    if shims:
        result["containerd-shims"] = shims
        result["pods"] = [p for s in shims for p in children_of(s)]
    return result


def memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process in KiB; PSS shares the multi-call binary's pages fairly."""
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text(encoding="utf-8").splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


# ---------------------------------------------------------------- HTTP health checks


def tls_context(ca: Path | None = None, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
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
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")
    except (OSError, ssl.SSLError) as error:
        return 0, str(error)


def admin_context() -> ssl.SSLContext:
    return tls_context(L.pki / "ca.crt", L.pki / "admin.crt", L.pki / "admin.key")


def api_get(path: str) -> dict | None:
    status, body = http_get(f"https://127.0.0.1:{API_PORT}{path}", admin_context())
    if status != 200:
        return None
    return json.loads(body)


def containerd_health() -> tuple[int, str]:
    if not L.containerd_sock.is_socket():
        return 0, "no socket"
    result = run(["ctr", "--address", L.containerd_sock, "version"], check=False, timeout=10)
    return (200, "ok") if result.returncode == 0 else (0, result.stderr.strip())


HEALTH = {
    "etcd": lambda: http_get(
        "https://127.0.0.1:2379/health",
        tls_context(L.pki / "etcd-ca.crt", L.pki / "apiserver-etcd-client.crt", L.pki / "apiserver-etcd-client.key"),
    ),
    "kube-apiserver": lambda: http_get(f"https://127.0.0.1:{API_PORT}/readyz", admin_context()),
    "kube-controller-manager": lambda: http_get("https://127.0.0.1:10257/healthz", tls_context()),
    "kube-scheduler": lambda: http_get("https://127.0.0.1:10259/healthz", tls_context()),
    "containerd": containerd_health,
    "kubelet": lambda: http_get("http://127.0.0.1:10248/healthz"),
    "kube-proxy": lambda: http_get("http://127.0.0.1:10256/healthz"),
    "coredns": lambda: http_get(f"http://{COREDNS_READY}/ready"),
    "hostpath-provisioner": lambda: (200, "running") if running_pid("hostpath-provisioner") else (0, "not running"),
}


def healthy(name: str) -> bool:
    status, body = HEALTH[name]()
    if name == "etcd":
        return status == 200 and '"health":"true"' in body.replace(" ", "")
    return status == 200


def wait_healthy(name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running_pid(name) is None:
            raise ClusterError(
                f"{name} exited during start-up; last lines of {L.logs / (name + '.log')}:\n{log_tail(name)}"
            )
        if healthy(name):
            return
        time.sleep(0.25)
    status, body = HEALTH[name]()
    raise ClusterError(
        f"{name} not healthy after {timeout:.0f}s ({status} {body[:300]}); last lines of "
        f"{L.logs / (name + '.log')}:\n{log_tail(name)}"
    )


# ---------------------------------------------------------------- PKI


def openssl(*args) -> None:
    run(["openssl", *args])


def new_key(path: Path, rsa: bool = False) -> None:
    if rsa:
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path)
    else:
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)
    path.chmod(0o600)


def new_ca(name: str, common_name: str) -> None:
    key, crt = L.pki / f"{name}.key", L.pki / f"{name}.crt"
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


def new_cert(name: str, ca: str, common_name: str, orgs=(), client=False, server=False, sans=()) -> None:
    """A key and a certificate signed by `ca`, renewed when the identity changes or expiry nears."""
    key, crt = L.pki / f"{name}.key", L.pki / f"{name}.crt"
    subject = "".join(f"/O={o}" for o in orgs) + f"/CN={common_name}"
    sans = list(sans)
    if key.exists() and cert_is_current(crt, subject, sans):
        return
    if not key.exists():
        new_key(key)
    usages = ",".join(u for u, on in (("serverAuth", server), ("clientAuth", client)) if on)
    extensions = [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        f"extendedKeyUsage={usages}",
        "authorityKeyIdentifier=keyid",
    ]
    if sans:
        extensions.append("subjectAltName=" + ",".join(sans))
    with tempfile.TemporaryDirectory() as tmp:
        csr, ext = Path(tmp) / "csr", Path(tmp) / "ext"
        ext.write_text("[v3]\n" + "\n".join(extensions) + "\n", encoding="utf-8")
        openssl("req", "-new", "-key", key, "-subj", subject, "-out", csr)
        openssl(
            "x509", "-req", "-in", csr, "-CA", L.pki / f"{ca}.crt", "-CAkey", L.pki / f"{ca}.key",
            "-set_serial", str(int.from_bytes(os.urandom(16), "big") >> 1), "-sha256", "-days", str(CERT_DAYS),
            "-extfile", ext, "-extensions", "v3", "-out", crt,
        )  # fmt: skip
    crt.with_suffix(".json").write_text(json.dumps({"subject": subject, "sans": sans}) + "\n", encoding="utf-8")


def ensure_pki(node: str, ip: str) -> None:
    L.pki.mkdir(parents=True, exist_ok=True)
    L.pki.chmod(0o700)
    new_ca("ca", "remotedev-cluster-ca")
    new_ca("etcd-ca", "remotedev-etcd-ca")
    new_ca("front-proxy-ca", "remotedev-front-proxy-ca")
    if not (L.pki / "sa.key").exists():
        new_key(L.pki / "sa.key", rsa=True)
        openssl("pkey", "-in", L.pki / "sa.key", "-pubout", "-out", L.pki / "sa.pub")
    api_names = [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        f"kubernetes.default.svc.{CLUSTER_DOMAIN}",
        "localhost",
        node,
    ]
    new_cert(
        "apiserver", "ca", "kube-apiserver", server=True,
        sans=[f"DNS:{n}" for n in api_names] + [f"IP:{a}" for a in ("127.0.0.1", API_SERVICE_IP, ip)],
    )  # fmt: skip
    new_cert("apiserver-kubelet-client", "ca", "kube-apiserver-kubelet-client", ["system:masters"], client=True)
    new_cert("apiserver-etcd-client", "etcd-ca", "kube-apiserver-etcd-client", client=True)
    new_cert("etcd-server", "etcd-ca", "etcd", server=True, client=True, sans=["DNS:localhost", "IP:127.0.0.1"])
    new_cert("front-proxy-client", "front-proxy-ca", "front-proxy-client", client=True)
    new_cert("admin", "ca", "kubernetes-admin", ["system:masters"], client=True)
    new_cert("kube-controller-manager", "ca", "system:kube-controller-manager", client=True)
    new_cert("kube-scheduler", "ca", "system:kube-scheduler", client=True)
    new_cert("kube-proxy", "ca", "system:kube-proxy", client=True)
    new_cert("kubelet-client", "ca", f"system:node:{node}", ["system:nodes"], client=True)
    new_cert("kubelet-server", "ca", node, server=True, sans=[f"DNS:{node}", f"IP:{ip}", "IP:127.0.0.1"])
    new_cert("coredns", "ca", "remotedev:coredns", client=True)
    new_cert("hostpath-provisioner", "ca", "remotedev:hostpath-provisioner", client=True)


def kubeconfig_text(user: str, cert: str, embed: bool) -> str:
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
                    "server": f"https://127.0.0.1:{API_PORT}",
                    **field("certificate-authority", L.pki / "ca.crt"),
                },
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    **field("client-certificate", L.pki / f"{cert}.crt"),
                    **field("client-key", L.pki / f"{cert}.key"),
                },
            }
        ],
        "contexts": [{"name": f"{user}@remotedev", "context": {"cluster": "remotedev", "user": user}}],
        "current-context": f"{user}@remotedev",
    }
    return json.dumps(config, indent=2) + "\n"


def write_file(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.chmod(mode)
        tmp.replace(path)


def write_kubeconfigs() -> None:
    for user in (
        "kube-controller-manager",
        "kube-scheduler",
        "kube-proxy",
        "coredns",
        "hostpath-provisioner",
    ):
        write_file(L.kubeconfig(user), kubeconfig_text(user, user, embed=False), 0o600)
    write_file(L.kubeconfig("kubelet"), kubeconfig_text("kubelet", "kubelet-client", embed=False), 0o600)
    # The admin kubeconfig carries its certificates: it can be copied elsewhere.
    write_file(L.admin_kubeconfig, kubeconfig_text("admin", "admin", embed=True), 0o600)


# ---------------------------------------------------------------- component configuration


def containerd_config(pause_ref: str) -> str:
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""# Written by tools/localcluster/cluster.py; own paths and socket, so it never
# meets the containerd of dockerd or of Debian's service.
version = 2
root = "{L.containerd / 'root'}"
state = "{L.run / 'containerd'}"
oom_score = 0
disabled_plugins = [
  "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = "{L.containerd_sock}"

[ttrpc]
  address = "{L.containerd_sock}.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[{cri}]
  sandbox_image = "{pause_ref}"
  # No CAP_SYS_RESOURCE here: the runtime may not lower oom_score_adj below
  # its own, so the kubelet's values are clamped instead of failing the pod.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_hugetlb_controller = true
  tolerate_missing_hugetlb_controller = true
  enable_unprivileged_ports = false
  enable_unprivileged_icmp = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  max_container_log_line_size = 16384

  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [{cri}.containerd.runtimes.runc.options]
        BinaryName = "{shutil.which('runc') or '/usr/bin/runc'}"
        Root = "{L.run / 'runc'}"
        SystemdCgroup = false

  [{cri}.cni]
    bin_dir = "{cni_bin_dir()}"
    conf_dir = "{L.cni_conf}"
    max_conf_num = 1

  [{cri}.registry]
    config_path = "{L.containerd / 'certs.d'}"
"""


def cni_bin_dir() -> str:
    for candidate in ("/usr/lib/cni", "/opt/cni/bin"):
        if Path(candidate, "bridge").exists():
            return candidate
    raise ClusterError("CNI plugins not found (/usr/lib/cni/bridge); install containernetworking-plugins")


def registry_hosts_toml() -> str:
    return f"""# Written by tools/localcluster/cluster.py: the local registry speaks plain HTTP.
server = "http://{REGISTRY}"

[host."http://{REGISTRY}"]
  capabilities = ["pull", "resolve"]
"""


def cni_conflist() -> str:
    return (
        json.dumps(
            {
                "cniVersion": "1.0.0",
                "name": CNI_NETWORK,
                "plugins": [
                    {
                        "type": "bridge",
                        "bridge": BRIDGE,
                        "isGateway": True,
                        "ipMasq": True,
                        "hairpinMode": True,
                        "ipam": {
                            "type": "host-local",
                            "dataDir": str(L.cni_ipam),
                            "ranges": [[{"subnet": POD_SUBNET, "gateway": POD_GATEWAY}]],
                            "routes": [{"dst": "0.0.0.0/0"}],
                        },
                    },
                    {"type": "portmap", "capabilities": {"portMappings": True}},
                ],
            },
            indent=2,
        )
        + "\n"
    )


def kubelet_config(node: str) -> str:
    return (
        json.dumps(
            {
                "apiVersion": "kubelet.config.k8s.io/v1beta1",
                "kind": "KubeletConfiguration",
                "authentication": {
                    "anonymous": {"enabled": False},
                    "webhook": {"enabled": True},
                    "x509": {"clientCAFile": str(L.pki / "ca.crt")},
                },
                "authorization": {"mode": "Webhook"},
                "tlsCertFile": str(L.pki / "kubelet-server.crt"),
                "tlsPrivateKeyFile": str(L.pki / "kubelet-server.key"),
                "readOnlyPort": 0,
                "healthzBindAddress": "127.0.0.1",
                "healthzPort": 10248,
                "containerRuntimeEndpoint": L.cri_endpoint,
                # cgroup v1 and no systemd as PID 1 here: cgroupfs, and this
                # kubelet still accepts v1 when told to.
                "cgroupDriver": "cgroupfs",
                "failCgroupV1": False,
                "failSwapOn": False,
                "memorySwap": {"swapBehavior": "NoSwap"},
                "clusterDNS": [DNS_SERVICE_IP],
                "clusterDomain": CLUSTER_DOMAIN,
                "resolvConf": "/etc/resolv.conf",
                "podLogsDir": str(L.pod_logs),
                "volumePluginDir": str(L.kubelet / "volume-plugins"),
                "staticPodPath": "",
                "rotateCertificates": False,
                "serverTLSBootstrap": False,
                "maxPods": 110,
                "serializeImagePulls": False,
                # A test machine's disk is shared with everything else: evict
                # only when it is really full, and keep images longer.
                "evictionHard": {
                    "memory.available": "100Mi",
                    "nodefs.available": "2%",
                    "nodefs.inodesFree": "2%",
                    "imagefs.available": "2%",
                },
                "imageGCHighThresholdPercent": 97,
                "imageGCLowThresholdPercent": 95,
                "nodeStatusReportFrequency": "1m",
                "shutdownGracePeriod": "0s",
            },
            indent=2,
        )
        + "\n"
    )


def kube_proxy_config(node: str) -> str:
    return (
        json.dumps(
            {
                "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
                "kind": "KubeProxyConfiguration",
                "clientConnection": {"kubeconfig": str(L.kubeconfig("kube-proxy"))},
                "hostnameOverride": node,
                "mode": "iptables",
                "clusterCIDR": CLUSTER_CIDR,
                "detectLocalMode": "ClusterCIDR",
                "healthzBindAddress": "127.0.0.1:10256",
                "metricsBindAddress": "127.0.0.1:10249",
                # Leave the host's conntrack sysctls and route_localnet alone.
                "conntrack": {
                    "maxPerCore": 0,
                    "min": 0,
                    "tcpEstablishedTimeout": "0s",
                    "tcpCloseWaitTimeout": "0s",
                },
                "nodePortAddresses": ["primary"],
                "iptables": {"localhostNodePorts": False, "masqueradeAll": False},
                "oomScoreAdj": 0,
            },
            indent=2,
        )
        + "\n"
    )


def corefile(ip: str) -> str:
    return f""".:53 {{
    bind {ip}
    errors
    health {COREDNS_HEALTH}
    ready {COREDNS_READY}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {L.kubeconfig('coredns')}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }}
    forward . /etc/resolv.conf
    cache 30
    loop
    reload
    loadbalance
}}
"""


def bootstrap_manifest(node: str, ip: str) -> str:
    """Objects every `up` applies: RBAC of the host-run add-ons, DNS Service, default StorageClass."""
    items = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "remotedev:coredns"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["endpoints", "services", "pods", "namespaces"],
                    "verbs": ["list", "watch"],
                },
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "remotedev:hostpath-provisioner"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["persistentvolumes"],
                    "verbs": ["get", "list", "watch", "create", "delete"],
                },
                {"apiGroups": [""], "resources": ["persistentvolumeclaims"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "update", "patch"]},
            ],
        },
    ]
    for user in ("coredns", "hostpath-provisioner"):
        items.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": f"remotedev:{user}"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": f"remotedev:{user}",
                },
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": f"remotedev:{user}"}],
            }
        )
    dns_ports = [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]
    items += [
        {
            # CoreDNS runs on the host; this selector-less Service and its
            # EndpointSlice route the cluster DNS address to it through kube-proxy.
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "kube-dns",
                "namespace": "kube-system",
                "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"},
            },
            "spec": {"clusterIP": DNS_SERVICE_IP, "ports": [dict(p, targetPort=53) for p in dns_ports]},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "kube-dns-host",
                "namespace": "kube-system",
                "labels": {
                    "kubernetes.io/service-name": "kube-dns",
                    "endpointslice.kubernetes.io/managed-by": "cluster.remotedev.local",
                },
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}, "nodeName": node}],
            "ports": dns_ports,
        },
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": STORAGE_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": PROVISIONER,
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer",
        },
    ]
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=2) + "\n"


def argv_for(name: str, b: Binaries, node: str, ip: str) -> list:
    pki = L.pki
    if name == "etcd":
        return [
            b["etcd"],
            "--name", node,
            "--data-dir", L.etcd,
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
            "--secure-port", API_PORT,
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
            "--service-account-issuer", f"https://kubernetes.default.svc.{CLUSTER_DOMAIN}",
            "--service-account-key-file", pki / "sa.pub",
            "--service-account-signing-key-file", pki / "sa.key",
            "--service-cluster-ip-range", SERVICE_CIDR,
            "--profiling=false",
            "--v", VERBOSITY,
        ]  # fmt: skip
    if name == "kube-controller-manager":
        kubeconfig = L.kubeconfig("kube-controller-manager")
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
            "--service-cluster-ip-range", SERVICE_CIDR,
            "--leader-elect=false",
            "--profiling=false",
            "--v", VERBOSITY,
        ]  # fmt: skip
    if name == "kube-scheduler":
        kubeconfig = L.kubeconfig("kube-scheduler")
        return [
            b["kube-scheduler"],
            "--kubeconfig", kubeconfig,
            "--authentication-kubeconfig", kubeconfig,
            "--authorization-kubeconfig", kubeconfig,
            "--bind-address", "127.0.0.1",
            "--leader-elect=false",
            "--profiling=false",
            "--v", VERBOSITY,
        ]  # fmt: skip
    if name == "containerd":
        return [shutil.which("containerd") or "/usr/bin/containerd", "--config", L.config / "containerd.toml"]
    if name == "kubelet":
        return [
            b["kubelet"],
            "--config", L.config / "kubelet.json",
            "--kubeconfig", L.kubeconfig("kubelet"),
            "--root-dir", L.kubelet,
            "--cert-dir", L.kubelet / "pki",
            "--hostname-override", node,
            "--node-ip", ip,
            "--pod-infra-container-image", pause_image_ref(b),
            "--v", VERBOSITY,
        ]  # fmt: skip
    if name == "kube-proxy":
        return [b["kube-proxy"], "--config", L.config / "kube-proxy.json", "--v", VERBOSITY]
    if name == "coredns":
        return [b["coredns"], "-conf", L.config / "Corefile"]
    if name == "hostpath-provisioner":
        return [
            b["hostpath-provisioner"],
            "-kubeconfig", L.kubeconfig("hostpath-provisioner"),
            "-name", PROVISIONER,
            "-base-dir", L.volumes,
            "-node-name", node,
        ]  # fmt: skip
    raise KeyError(name)


START_TIMEOUT = {
    "etcd": 60,
    "kube-apiserver": 120,
    "kube-controller-manager": 60,
    "kube-scheduler": 60,
    "containerd": 60,
    "kubelet": 90,
    "kube-proxy": 60,
    "coredns": 60,
    "hostpath-provisioner": 5,
}


# ---------------------------------------------------------------- sandbox image


def pause_image_ref(b: Binaries) -> str:
    digest = hashlib.sha256(b["pause"].read_bytes()).hexdigest()[:12]
    return f"localhost/remotedev/pause:{digest}"


def pause_oci_archive(b: Binaries, ref: str) -> bytes:
    """An OCI image archive holding only the static pause binary (nothing can be pulled here)."""

    def tar_bytes(entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for info, data in entries:
                tar.addfile(info, io.BytesIO(data) if data is not None else None)
        return buffer.getvalue()

    def entry(name: str, data: bytes | None = None, mode: int = 0o644, kind=tarfile.REGTYPE) -> tuple:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.mtime = kind, mode, 0
        info.size = len(data) if data is not None else 0
        return info, data

    binary = b["pause"].read_bytes()
    layer = tar_bytes([entry("pause", binary, 0o755)])
    layer_digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Entrypoint": ["/pause"], "User": "65535:65535"},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
            "history": [{"created_by": "tools/localcluster/cluster.py (static Go pause)"}],
        },
        sort_keys=True,
    ).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": len(layer)}
            ],
        },
        sort_keys=True,
    ).encode()
    manifest_digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    index = json.dumps(
        {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": manifest_digest,
                    "size": len(manifest),
                    "platform": {"architecture": "amd64", "os": "linux"},
                    "annotations": {
                        "io.containerd.image.name": ref,
                        "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[1],
                    },
                }
            ],
        }
    ).encode()
    blobs = [
        (d.split(":")[1], data)
        for d, data in ((layer_digest, layer), (config_digest, config), (manifest_digest, manifest))
    ]
    return tar_bytes(
        [entry("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), entry("index.json", index)]
        + [entry("blobs/", kind=tarfile.DIRTYPE, mode=0o755), entry("blobs/sha256/", kind=tarfile.DIRTYPE, mode=0o755)]
        + [entry(f"blobs/sha256/{name}", data) for name, data in blobs]
    )


def ensure_pause_image(b: Binaries) -> None:
    ref = pause_image_ref(b)
    ctr = ["ctr", "--address", L.containerd_sock, "--namespace", "k8s.io"]
    listed = run([*ctr, "images", "list", "--quiet"]).stdout.split()
    if ref in listed:
        return
    with tempfile.NamedTemporaryFile(suffix=".tar") as archive:
        archive.write(pause_oci_archive(b, ref))
        archive.flush()
        run([*ctr, "images", "import", "--all-platforms", archive.name])
    log(f"imported the sandbox image {ref}")


# ---------------------------------------------------------------- host networking


def sysctl(key: str, value: str) -> None:
    path = Path("/proc/sys") / key.replace(".", "/")
    if not path.exists():
        raise ClusterError(f"sysctl {key} is missing (kernel module not loaded?)")
    if path.read_text(encoding="utf-8").strip() != value:
        path.write_text(value + "\n", encoding="utf-8")
        log(f"set {key}={value}")


def prepare_host_network() -> None:
    sysctl("net.ipv4.ip_forward", "1")
    # Pod-to-Service traffic that comes back to the same bridge must pass
    # kube-proxy's iptables rules.
    sysctl("net.bridge.bridge-nf-call-iptables", "1")
    if run(["ip", "link", "show", BRIDGE], check=False).returncode != 0:
        run(["ip", "link", "add", BRIDGE, "type", "bridge"])
        run(["ip", "addr", "add", f"{POD_GATEWAY}/{POD_SUBNET.split('/')[1]}", "dev", BRIDGE])
        run(["ip", "link", "set", BRIDGE, "up"])
    # The host reaches ClusterIPs through kube-proxy's OUTPUT rules; without a
    # default route the kernel would refuse the connection before those run.
    if run(["ip", "route", "get", API_SERVICE_IP], check=False).returncode != 0:
        run(["ip", "route", "replace", SERVICE_CIDR, "dev", BRIDGE, "src", POD_GATEWAY])


def iptables_rules(binary: str, table: str) -> list[str]:
    result = run([f"{binary}-save", "-t", table], check=False)
    return result.stdout.splitlines() if result.returncode == 0 else []


def cleanup_cni_iptables() -> None:
    """Rules and chains the bridge/portmap plugins made for this network and that CNI DEL missed."""
    marker = f'name: \\"{CNI_NETWORK}\\"'
    for table in ("nat", "filter"):
        rules = iptables_rules("iptables", table)
        targets = set()
        for line in rules:
            if line.startswith("-A ") and marker in line:
                spec = shlex.split(line)[1:]
                run(["iptables", "-t", table, "-D", *spec], check=False)
                if "-j" in spec:
                    targets.add(spec[spec.index("-j") + 1])
        for chain in sorted(targets):
            if chain.startswith("CNI-"):
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


def mounts_under(root: Path) -> list[str]:
    prefix = str(root) + "/"
    found = []
    try:
        lines = Path("/proc/self/mountinfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        return found
    for line in lines:
        mountpoint = line.split()[4].encode().decode("unicode_escape")
        if mountpoint == str(root) or mountpoint.startswith(prefix):
            found.append(mountpoint)
    return found


def unmount_state(root: Path | None = None) -> None:
    for _attempt in range(3):
        mountpoints = sorted(set(mounts_under(root or L.root)), key=len, reverse=True)
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
    links = Path("/var/log/containers")
    if not links.is_dir():
        return
    for link in links.iterdir():
        if link.is_symlink() and os.readlink(link).startswith(str(L.pod_logs) + "/"):
            link.unlink(missing_ok=True)


# ---------------------------------------------------------------- DNS probe


def dns_query(server: str, name: str, timeout: float = 2) -> list[str]:
    """A-records for `name` asked over UDP (a real DNS message, stdlib only)."""
    query_id = int.from_bytes(os.urandom(2), "big")
    header = struct.pack(">HHHHHH", query_id, 0x0100, 1, 0, 0, 0)
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    message = header + question + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(message, (server, 53))
        reply = sock.recvfrom(4096)[0]
    rid, flags, qd, an = struct.unpack(">HHHH", reply[:8])
    if rid != query_id or flags & 0x000F:
        return []
    offset = 12
    for _question in range(qd):
        while reply[offset] != 0:
            if reply[offset] & 0xC0 == 0xC0:
                offset += 1
                break
            offset += reply[offset] + 1
        offset += 5
    addresses = []
    for _answer in range(an):
        if reply[offset] & 0xC0 == 0xC0:
            offset += 2
        else:
            while reply[offset] != 0:
                offset += reply[offset] + 1
            offset += 1
        rtype, _rclass, _ttl, length = struct.unpack(">HHIH", reply[offset : offset + 10])
        offset += 10
        if rtype == 1 and length == 4:
            addresses.append(str(ipaddress.IPv4Address(reply[offset : offset + 4])))
        offset += length
    return addresses


def dns_answers() -> bool:
    try:
        return API_SERVICE_IP in dns_query(DNS_SERVICE_IP, f"kubernetes.default.svc.{CLUSTER_DOMAIN}")
    except OSError:
        return False


# ---------------------------------------------------------------- commands


@contextlib.contextmanager
def state_lock():
    L.root.mkdir(parents=True, exist_ok=True)
    with open(L.root / ".lock", "w", encoding="utf-8") as handle:
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
    missing = [
        tool
        for tool in ("containerd", "containerd-shim-runc-v2", "runc", "ctr", "iptables", "ip", "openssl", "conntrack")
        if not shutil.which(tool)
    ]
    if missing:
        raise ClusterError(f"missing on PATH: {', '.join(missing)} (make system-deps installs them)")
    cni_bin_dir()


def start_registry() -> None:
    result = run([REPO / "scripts" / "local-registry", "start"], check=False)
    if result.returncode != 0:
        raise ClusterError(f"the local registry did not start: {result.stderr.strip()}")


def write_configs(b: Binaries, node: str, ip: str) -> None:
    for directory in (L.config, L.logs, L.pids, L.run, L.containerd, L.kubelet, L.pod_logs, L.cni_conf, L.cni_ipam):
        directory.mkdir(parents=True, exist_ok=True)
    L.volumes.mkdir(parents=True, exist_ok=True)
    L.volumes.chmod(0o700)
    L.etcd.mkdir(parents=True, exist_ok=True)
    L.etcd.chmod(0o700)
    write_kubeconfigs()
    write_file(L.config / "containerd.toml", containerd_config(pause_image_ref(b)))
    write_file(L.containerd / "certs.d" / REGISTRY / "hosts.toml", registry_hosts_toml())
    write_file(L.cni_conf / "10-remotedev.conflist", cni_conflist())
    write_file(L.config / "kubelet.json", kubelet_config(node))
    write_file(L.config / "kube-proxy.json", kube_proxy_config(node))
    write_file(L.config / "Corefile", corefile(ip))
    write_file(L.config / "bootstrap.json", bootstrap_manifest(node, ip))


def clear_stale_runtime_state() -> None:
    """After a reboot or a crash: the runtime's state dir must not outlive its processes."""
    if running_pid("containerd") or runtime_shims():
        return
    unmount_state(L.run)
    shutil.rmtree(L.run, ignore_errors=True)
    L.run.mkdir(parents=True, exist_ok=True)


def apply_bootstrap(b: Binaries) -> None:
    deadline = time.monotonic() + 60
    while True:
        result = run(
            [
                b["kubectl"], "--kubeconfig", L.admin_kubeconfig, "apply", "--server-side",
                "--field-manager", "remotedev-cluster", "--force-conflicts", "-f", L.config / "bootstrap.json",
            ],
            check=False,
        )  # fmt: skip
        if result.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise ClusterError(f"applying the bootstrap objects failed: {result.stderr.strip()}")
        time.sleep(1)


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


def cmd_build(_args) -> int:
    b = ensure_binaries()
    for build in (kube_build(), addons_build()):
        directory = build.cached()
        meta = json.loads((directory / "build.json").read_text(encoding="utf-8"))
        print(f"{build.name} {build.version}: {directory} (built in {meta['seconds']}s on {meta['built_at']})")
    print(f"pause image: {pause_image_ref(b)}")
    return 0


def cmd_up(_args) -> int:
    require_root("up")
    preflight()
    t0 = time.monotonic()
    kubelet_started_at = 0.0
    with state_lock():
        b = ensure_binaries()
        t_built = time.monotonic()
        start_registry()
        node, ip = node_name(), node_ip()
        facts = {"node_name": node, "node_ip": ip}
        with contextlib.suppress(OSError, ValueError):
            previous = json.loads(L.facts.read_text(encoding="utf-8"))
            if previous != facts and any(running_pid(n) for n in COMPONENTS):
                raise ClusterError(
                    f"the node's identity changed ({previous} -> {facts}) while the cluster runs; "
                    "run `cluster.py down` first"
                )
        already = [n for n in COMPONENTS if running_pid(n)]
        if (
            len(already) == len(COMPONENTS)
            and all(healthy(n) for n in COMPONENTS)
            and node_ready(node)
            and dns_answers()
        ):
            print(f"cluster already up (node {node} Ready, DNS answers); nothing to do")
            print_env()
            return 0
        ensure_pki(node, ip)
        write_configs(b, node, ip)
        write_file(L.facts, json.dumps(facts) + "\n")
        clear_stale_runtime_state()
        prepare_host_network()
        for name in COMPONENTS:
            if running_pid(name):
                log(f"{name} already running (pid {running_pid(name)})")
            else:
                if name == "kubelet":
                    kubelet_started_at = time.time()
                pid = start_process(name, argv_for(name, b, node, ip))
                log(f"started {name} (pid {pid})")
            wait_healthy(name, START_TIMEOUT[name])
            if name == "kube-apiserver":
                apply_bootstrap(b)
            if name == "containerd":
                ensure_pause_image(b)
        deadline = time.monotonic() + 120
        while not node_ready(node, since=kubelet_started_at):
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"node {node} not Ready after 120s; see {L.logs / 'kubelet.log'}:\n{log_tail('kubelet')}"
                )
            time.sleep(0.5)
        while not dns_answers():
            if time.monotonic() > deadline:
                raise ClusterError(f"cluster DNS ({DNS_SERVICE_IP}) does not answer; see {L.logs / 'coredns.log'}")
            time.sleep(0.5)
    took = time.monotonic() - t0
    print(
        f"cluster up in {took:.1f}s ({took - (t_built - t0):.1f}s after the binaries were ready): "
        f"node {node} Ready, DNS answers, Kubernetes {kubernetes_version()}"
    )
    print_env()
    return 0


def cmd_down(_args) -> int:
    require_root("down")
    with state_lock():
        t0 = time.monotonic()
        stopped = []
        for name in ("hostpath-provisioner", "coredns", "kube-scheduler", "kube-controller-manager", "kubelet"):
            if stop_process(name):
                stopped.append(name)
        b = cached_binaries()
        if running_pid("containerd") and b:
            # Through the CRI, so containerd itself runs CNI DEL and removes
            # network namespaces and mounts of every pod.
            result = run([b["cri-sweep"], "-endpoint", L.cri_endpoint, "-timeout", "120s"], check=False, timeout=150)
            if result.stdout.strip():
                log(f"removed {len(result.stdout.splitlines())} pod sandbox(es) through the CRI")
            if result.returncode != 0:
                log(f"cri-sweep reported: {result.stderr.strip()}")
        if stop_process("containerd"):
            stopped.append("containerd")
        for shim in runtime_shims():
            # Left over only when the CRI sweep failed: end the pods' processes
            # and their shim, all started by this cluster's containerd.
            for pid in reversed(children_of(shim)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(shim, signal.SIGKILL)
            log(f"killed leftover runtime shim {shim}")
        if stop_process("kube-proxy"):
            stopped.append("kube-proxy")
        for name in ("kube-apiserver", "etcd"):
            if stop_process(name, timeout=30):
                stopped.append(name)
        foreign = foreign_components()
        if foreign:
            log(f"not cleaning host network state: used by {', '.join(foreign)}, not started from {L.root}")
        else:
            if b:
                run([b["kube-proxy"], "--cleanup", "--v", "0"], check=False, timeout=120)
            cleanup_cni_iptables()
            cleanup_kube_iptables()
            if run(["ip", "link", "show", BRIDGE], check=False).returncode == 0:
                run(["ip", "link", "delete", BRIDGE], check=False)
            remove_empty_cgroups()
        unmount_state()
        shutil.rmtree(L.cni_ipam / CNI_NETWORK, ignore_errors=True)
        remove_container_log_links()
        shutil.rmtree(L.run, ignore_errors=True)
    print(f"cluster down in {time.monotonic() - t0:.1f}s (stopped: {', '.join(stopped) or 'nothing was running'})")
    print("the local registry keeps running (scripts/local-registry stop ends it); state kept in", L.root)
    return 0


def cmd_purge(args) -> int:
    require_root("purge")
    cmd_down(args)
    with state_lock():
        unmount_state()
        for entry in L.root.iterdir():
            if entry.name != ".lock":
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
    print(f"cluster state removed ({L.root}); cached binaries kept in {BIN_CACHE}")
    return 0


def memory_of(pids: list[int]) -> tuple[int, int]:
    usage = [memory_kib(pid) for pid in pids]
    return sum(u[0] for u in usage), sum(u[1] for u in usage)


def cmd_status(args) -> int:
    rows, up, unhealthy = [], 0, 0
    for name in COMPONENTS:
        pid = running_pid(name)
        if pid:
            up += 1
            rss = memory_kib(pid)[0]
            status, body = HEALTH[name]()
            ok = healthy(name)
            unhealthy += not ok
            health = "ok" if ok else f"unhealthy ({status} {body.strip()[:60]})"
            rows.append((name, str(pid), f"{rss / 1024:.0f} MiB", health))
        else:
            rows.append((name, "-", "-", "stopped"))
    node = node_name()
    groups = cluster_pids()
    own = [pid for name, pids in groups.items() if name != "pods" for pid in pids]
    own_rss, own_pss = memory_of(own)
    pods_rss = memory_of(groups.get("pods", []))[0]
    if args.json:
        print(
            json.dumps(
                {
                    "components": {r[0]: {"pid": r[1], "rss": r[2], "health": r[3]} for r in rows},
                    "node": node,
                    "node_ready": bool(up) and node_ready(node),
                    "memory_rss_kib": own_rss,
                    "memory_pss_kib": own_pss,
                    "pods_rss_kib": pods_rss,
                    "state_dir": str(L.root),
                },
                indent=2,
            )
        )
    else:
        width = max(len(r[0]) for r in rows)
        print(f"{'COMPONENT':<{width}}  {'PID':>7}  {'RSS':>8}  HEALTH")
        for name, pid, rss, health in rows:
            print(f"{name:<{width}}  {pid:>7}  {rss:>8}  {health}")
        if up:
            ready = node_ready(node)
            print(
                f"node {node}: {'Ready' if ready else 'not Ready'}; DNS {DNS_SERVICE_IP}: {'answers' if dns_answers() else 'no answer'}"
            )
            print(
                f"memory: cluster {own_rss / 1024:.0f} MiB RSS / {own_pss / 1024:.0f} MiB PSS "
                f"({len(own)} processes: components and runtime shims); "
                f"pods {pods_rss / 1024:.0f} MiB RSS ({len(groups.get('pods', []))} processes)"
            )
        registry = run([REPO / "scripts" / "local-registry", "status"], check=False)
        print(f"registry {REGISTRY}: {(registry.stdout + registry.stderr).strip() or registry.returncode}")
        print(f"state and logs: {L.root} (logs in {L.logs})")
    if up == 0:
        return 3
    return 0 if up == len(COMPONENTS) and not unhealthy else 1


def print_env(export: bool = False) -> None:
    prefix = "export " if export else ""
    print(f"{prefix}KUBECONFIG={L.admin_kubeconfig}")
    print(f"{prefix}REGISTRY={REGISTRY}")


def cmd_env(args) -> int:
    print_env(args.export)
    if not running_pid("kube-apiserver"):
        log("the cluster is not running (cluster.py up starts it)")
    return 0


def cmd_registry(_args) -> int:
    start_registry()
    print(f"REGISTRY={REGISTRY}")
    return 0


def cmd_kubectl(args: list[str]) -> int:
    b = cached_binaries()
    if not b:
        raise ClusterError("binaries not built yet: cluster.py build")
    return subprocess.call([str(b["kubectl"]), "--kubeconfig", str(L.admin_kubeconfig), *args])


def main(argv=None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `cluster.py status | head` ends quietly
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="build or reuse the cached binaries").set_defaults(func=cmd_build)
    commands.add_parser("up", help="start the cluster (idempotent)").set_defaults(func=cmd_up)
    commands.add_parser("down", help="stop the cluster, clean its network state").set_defaults(func=cmd_down)
    commands.add_parser("purge", help="down, then delete all cluster state").set_defaults(func=cmd_purge)
    status = commands.add_parser("status", help="show each component")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)
    env = commands.add_parser("env", help="print KUBECONFIG= and REGISTRY= lines")
    env.add_argument("--export", action="store_true", help="prefix the lines with `export`")
    env.set_defaults(func=cmd_env)
    commands.add_parser("registry", help="start only the local registry").set_defaults(func=cmd_registry)
    commands.add_parser("kubectl", help="kubectl with the admin kubeconfig: cluster.py kubectl get pods -A")
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["kubectl"]:  # everything after it belongs to kubectl
            return cmd_kubectl(argv[1:])
        args = parser.parse_args(argv)
        return args.func(args)
    except ClusterError as error:
        log(f"error: {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
