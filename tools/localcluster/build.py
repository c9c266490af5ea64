"""The cluster's binaries: Go builds of the pinned modules kube/ and addons/,
cached under BIN_CACHE by a key over what goes into them."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from . import layout
from .util import ClusterError, log, run

KUBE_MODULE = layout.TOOL_DIR / "kube"
ADDONS_MODULE = layout.TOOL_DIR / "addons"
NETPOL_MODULE = layout.TOOL_DIR / "netpol"

# The programs of each multi-call binary: each is a symlink named after it.
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
NETPOL_COMPONENT = "network-policies"
NETPOL_ENGINE = "sigs.k8s.io/kube-network-policies"
# The ingress controller: a release of Traefik built from its module as the
# proxy serves it. Its go.mod has replace directives, which rule out
# `go install module@version`, so it is built inside a writable copy of the
# downloaded module. (v3.7 needs a nested module the proxy does not serve.)
INGRESS_COMPONENT = "traefik"
INGRESS_MODULE = "github.com/traefik/traefik/v3"
INGRESS_VERSION = "v3.6.12"
INGRESS_LDFLAGS = f"-s -w -X {INGRESS_MODULE}/pkg/version.Version={INGRESS_VERSION}"


def module_version(go_mod: Path, module: str) -> str:
    """The version go.mod requires (or replaces) for a module."""
    text = go_mod.read_text(encoding="utf-8")
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", text, re.M)
    if not match:
        raise ClusterError(f"{go_mod} does not require {module}")
    return match.group(1)


def kubernetes_version() -> str:
    return module_version(KUBE_MODULE / "go.mod", "k8s.io/kubernetes")


def kube_ldflags(version: str) -> str:
    """What `make` of Kubernetes stamps into its binaries (`kubectl version`, the API's /version)."""
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


def source_digest(module_dir: Path, go_version: str, outputs: dict[str, tuple[str, str]]) -> str:
    """What decides the binaries: the Go version, the module's go.mod, go.sum and
    .go files (by their path inside the module, so moving the module keeps the
    key) and each output's package and flags."""
    digest = hashlib.sha256()
    digest.update(go_version.encode())
    for path in sorted(module_dir.rglob("*")):
        if path.is_file() and (path.suffix == ".go" or path.name in ("go.mod", "go.sum")):
            digest.update(str(path.relative_to(module_dir)).encode() + b"\0")
            digest.update(path.read_bytes())
    for out, (package, ldflags) in sorted(outputs.items()):
        digest.update(f"{out}\0{package}\0{ldflags}\0".encode())
    return digest.hexdigest()[:12]


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
        return f"{self.name}-{self.version}-{source_digest(self.module_dir, self.go_version(), self.outputs)}"

    def directory(self) -> Path:
        return layout.BIN_CACHE / self.key()

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
        layout.BIN_CACHE.mkdir(parents=True, exist_ok=True)
        # Built into a temporary directory and renamed: an interrupted build
        # never looks like a cached one.
        work = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=layout.BIN_CACHE))
        started = time.monotonic()
        try:
            for out, (package, ldflags) in self.outputs.items():
                self._go_build(work / out, package, ldflags)
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
        self._remove_older_builds(directory)
        return directory

    def _go_build(self, target: Path, package: str, ldflags: str) -> None:
        log(f"building {target.name} ({self.name} {self.version}) from Go sources; the first build takes minutes")
        t0 = time.monotonic()
        result = subprocess.run(
            [go_binary(), "build", "-trimpath", "-ldflags", ldflags, "-o", str(target), package],
            cwd=self.module_dir,
            env=dict(os.environ, CGO_ENABLED="0", GOFLAGS="-buildvcs=false"),
            check=False,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise ClusterError(f"go build of {target.name} failed:\n{(result.stdout + result.stderr)[-4000:]}")
        log(f"built {target.name} in {time.monotonic() - t0:.0f}s")

    def _remove_older_builds(self, keep: Path) -> None:
        # Older builds of the same binaries are dead weight (hundreds of MB).
        for other in layout.BIN_CACHE.glob(f"{self.name}-*"):
            if other != keep and other.is_dir() and not other.name.startswith("."):
                shutil.rmtree(other, ignore_errors=True)


def kube_build() -> Build:
    version = kubernetes_version()
    return Build("kube", KUBE_MODULE, version, {"kube": (".", kube_ldflags(version))})


def addons_build() -> Build:
    version = "coredns-" + module_version(ADDONS_MODULE / "go.mod", "github.com/coredns/coredns")
    return Build(
        "addons",
        ADDONS_MODULE,
        version,
        {"cluster-addons": (".", "-s -w"), "pause": ("./pause", "-s -w")},
    )


def netpol_build() -> Build:
    # A module of its own: the engine pins client-go 0.32, older than the other two modules.
    version = "kube-network-policies-" + module_version(NETPOL_MODULE / "go.mod", NETPOL_ENGINE)
    return Build("netpol", NETPOL_MODULE, version, {NETPOL_COMPONENT: (".", "-s -w")})


class ModuleBuild(Build):
    """A build of a released module as the Go module proxy serves it (no
    sources in this repository): keyed by the module, its version, the Go
    version and the flags."""

    def __init__(self, name: str, module: str, version: str, outputs: dict[str, tuple[str, str]]):
        super().__init__(name, layout.TOOL_DIR, version, outputs)
        self.module = module

    def key(self) -> str:
        digest = hashlib.sha256(f"{self.go_version()}\0{self.module}@{self.version}\0".encode())
        for out, (package, ldflags) in sorted(self.outputs.items()):
            digest.update(f"{out}\0{package}\0{ldflags}\0".encode())
        return f"{self.name}-{self.version}-{digest.hexdigest()[:12]}"

    def _go_build(self, target: Path, package: str, ldflags: str) -> None:
        result = run([go_binary(), "mod", "download", "-json", f"{self.module}@{self.version}"], check=False, timeout=900)
        if result.returncode != 0:
            raise ClusterError(f"downloading {self.module}@{self.version} failed:\n{(result.stdout + result.stderr)[-2000:]}")
        downloaded = Path(json.loads(result.stdout)["Dir"])
        with tempfile.TemporaryDirectory(prefix=f"{self.name}-src.") as tmp:
            # The module cache is read-only, and the build writes go.sum entries.
            source = Path(tmp) / "src"
            shutil.copytree(downloaded, source)
            for path in [source, *source.rglob("*")]:
                if not path.is_symlink():
                    path.chmod(path.stat().st_mode | 0o200)
            self.module_dir = source
            try:
                super()._go_build(target, package, ldflags)
            finally:
                self.module_dir = layout.TOOL_DIR


class Binaries:
    """Paths of the built programs; each component is a symlink named after it."""

    def __init__(self, kube_dir: Path, addons_dir: Path, netpol_dir: Path, ingress_dir: Path):
        self.kube_dir = kube_dir
        self.addons_dir = addons_dir
        self.netpol_dir = netpol_dir
        self.ingress_dir = ingress_dir
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
        if name == NETPOL_COMPONENT:
            return self.netpol_dir / name
        if name == INGRESS_COMPONENT:
            return self.ingress_dir / name
        raise KeyError(name)


def ingress_build() -> Build:
    return ModuleBuild(
        "traefik", INGRESS_MODULE, INGRESS_VERSION, {INGRESS_COMPONENT: ("./cmd/traefik", INGRESS_LDFLAGS)}
    )


def all_builds() -> tuple[Build, Build, Build, Build]:
    return kube_build(), addons_build(), netpol_build(), ingress_build()


def ensure_binaries() -> Binaries:
    return Binaries(*(each.ensure() for each in all_builds()))


def cached_binaries() -> Binaries | None:
    directories = [each.cached() for each in all_builds()]
    return Binaries(*directories) if all(directories) else None
