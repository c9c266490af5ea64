#!/usr/bin/env python
"""Figures of the local cluster (tools/localcluster) against the targets of issue 3.

    bench/cluster.py            build time from the cache's record, warm `up`, memory
    bench/cluster.py --cold     also build everything again from empty Go caches
                                (module download and compilation timed apart; ~15 min)

Targets: cold build of all binaries <= 30 min on 2 cores; warm `up` to Ready
<= 60 s; memory of the running cluster <= 2 GiB. Each figure is printed with
its ratio to the target. The warm `up` restarts the cluster (down, then up):
pods on it restart too. The cluster is left up.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLUSTER_PY = REPO / "tools" / "localcluster" / "cluster.py"
sys.path.insert(0, str(CLUSTER_PY.parents[1]))
from localcluster import build, processes  # noqa: E402  (the tool's package, from tools/)

TARGET_BUILD_S = 30 * 60
TARGET_UP_S = 60
TARGET_MEMORY_KIB = 2 * 1024 * 1024


def row(figure: str, value: str, target: str, ratio: float) -> str:
    verdict = "ok" if ratio <= 1 else "MISSED"
    return f"{figure:<44} {value:>12}   target {target:>8}   ratio {ratio:5.2f}  {verdict}"


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cold_build() -> tuple[float, float, list[str]]:
    """Builds every binary with empty GOCACHE and GOMODCACHE; returns (download s, build s, details).

    CPU time and load are printed too: on a shared machine other jobs stretch
    the wall time, and CPU time shows how much of it was this build."""
    work = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    env = dict(
        os.environ,
        CGO_ENABLED="0",
        GOFLAGS="-buildvcs=false",
        GOCACHE=str(work / "gocache"),
        GOMODCACHE=str(work / "gomodcache"),
    )
    details, download_s, build_s = [], 0.0, 0.0
    try:
        for each in build.all_builds():
            t0 = time.monotonic()
            subprocess.run([build.go_binary(), "mod", "download"], cwd=each.module_dir, env=env, check=True)
            took = time.monotonic() - t0
            download_s += took
            details.append(f"  go mod download ({each.name}): {took:.0f}s")
            for out, (package, ldflags) in each.outputs.items():
                t0, cpu0 = time.monotonic(), children_cpu_s()
                subprocess.run(
                    [build.go_binary(), "build", "-trimpath", "-ldflags", ldflags, "-o", str(work / out), package],
                    cwd=each.module_dir,
                    env=env,
                    check=True,
                )
                took, cpu = time.monotonic() - t0, children_cpu_s() - cpu0
                build_s += took
                details.append(
                    f"  go build {out} ({each.name} {each.version}): {took:.0f}s wall, {cpu:.0f}s CPU "
                    f"({cpu / took * 100 if took else 0:.0f}% of one core), load average now {os.getloadavg()[0]:.1f}"
                )
    finally:
        subprocess.run([build.go_binary(), "clean", "-modcache"], env=env, check=False, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    return download_s, build_s, details


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cold", action="store_true", help="build again from empty Go caches")
    parser.add_argument("--no-restart", action="store_true", help="skip the warm `up` (leaves a running cluster alone)")
    parser.add_argument("--settle", type=float, default=15, help="seconds to let the cluster settle before memory")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/cluster.py restarts the cluster and must run as root", file=sys.stderr)
        return 1
    lines = [f"local cluster, Kubernetes {build.kubernetes_version()}, {os.cpu_count()} CPUs"]

    if args.cold:
        download_s, build_s, details = cold_build()
        lines.append(
            row(
                "cold build, empty Go caches (compile+link)",
                f"{build_s / 60:.1f} min",
                "30 min",
                build_s / TARGET_BUILD_S,
            )
        )
        lines.append(
            row(
                "cold build incl. module download",
                f"{(build_s + download_s) / 60:.1f} min",
                "30 min",
                (build_s + download_s) / TARGET_BUILD_S,
            )
        )
        lines += details
    else:
        seconds = 0.0
        for each in build.all_builds():
            directory = each.cached()
            if not directory:
                print("binaries not built: make cluster-build", file=sys.stderr)
                return 1
            seconds += json.loads((directory / "build.json").read_text(encoding="utf-8"))["seconds"]
        lines.append(
            row(
                "last build that filled the cache (Go caches",
                f"{seconds / 60:.1f} min",
                "30 min",
                seconds / TARGET_BUILD_S,
            )
        )
        lines.append("  may have been warm; --cold measures from empty caches)")

    tool = [sys.executable, str(CLUSTER_PY)]
    if args.no_restart:
        lines.append("warm `up`: skipped (--no-restart)")
        subprocess.run([*tool, "up"], check=True, capture_output=True)
    else:
        subprocess.run([*tool, "down"], check=True, capture_output=True)
        t0 = time.monotonic()
        subprocess.run([*tool, "up"], check=True, capture_output=True)
        up_s = time.monotonic() - t0
        lines.append(row("warm `up` to node Ready + DNS answering", f"{up_s:.1f} s", "60 s", up_s / TARGET_UP_S))
        time.sleep(args.settle)
    groups = processes.cluster_pids()
    own = {k: v for k, v in groups.items() if k != "pods"}
    rss = sum(processes.memory_kib(p)[0] for g in own.values() for p in g)
    pss = sum(processes.memory_kib(p)[1] for g in own.values() for p in g)
    pods_rss = sum(processes.memory_kib(p)[0] for p in groups.get("pods", []))
    lines.append(
        row("memory, RSS sum of the cluster's processes", f"{rss / 1024:.0f} MiB", "2 GiB", rss / TARGET_MEMORY_KIB)
    )
    lines.append(
        row("memory, PSS sum (shared pages counted once)", f"{pss / 1024:.0f} MiB", "2 GiB", pss / TARGET_MEMORY_KIB)
    )
    for name, pids in own.items():
        lines.append(
            f"  {name:<26} {sum(processes.memory_kib(p)[0] for p in pids) / 1024:7.0f} MiB RSS ({len(pids)} process(es))"
        )
    lines.append(
        f"  (pods' own processes, not counted: {pods_rss / 1024:.0f} MiB RSS in {len(groups.get('pods', []))} processes)"
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
