"""Kernels in their own pods against kernels in the server's pod, on one
deployed Jupyter Server, measured in one run: how long a kernel takes to start
and how long a small cell takes there and back.

    bench/pod_kernels.py                                     the Molecule deployment's neighbour
    bench/pod_kernels.py --namespace NS --instance NAME --pod-kernel python3-pod --starts 5 --cells 200 --json f.json

Both sides go through the server's Service (its ClusterIP: on the local cluster
kube-proxy routes it on this host; --url for another way in) with the
instance's token, read from its Secret. In turns, `--starts` times each: a
kernel of the in-server kernelspec (--in-server-kernel, the floor) and one of
the pod kernelspec (--pod-kernel) is started (POST /api/kernels until its
kernel_info_reply over the websocket: for a pod kernel the pod's creation,
scheduling, container start and the kernel's call back; the image is on the
node already, so no pull), then runs `--cells` cells of `1+1` one after the
other (send to execute_reply, the v1 websocket protocol as JupyterLab speaks
it), then is shut down. Figures: medians of the start times and of the round
trips (all cells of all kernels of a side), p99 of the round trips, and the
ratios pod / in-server.

Not a test: nothing fails on a number. Exit status 1 when a kernel does not
start or a cell fails, 2 when the run cannot start.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests/image"), str(REPO / "bench")]
sys.dont_write_bytecode = True

import websocket  # noqa: E402

from jupyter_probe import V1_PROTOCOL, KernelSocket, api  # noqa: E402
from load import discover, percentile  # noqa: E402  (bench/load.py: the Service, the token; nearest-rank percentiles)

START_TIMEOUT = 180
MESSAGE_TIMEOUT = 30


class StartedKernel(KernelSocket):
    """A kernel this benchmark started itself (the POST timed apart, with a
    launch-sized timeout), driven over its websocket like KernelSocket."""

    def __init__(self, url: str, token: str, kernel: dict):  # pylint: disable=super-init-not-called
        self.timeout, self.protocol = MESSAGE_TIMEOUT, "v1"
        self.session = uuid.uuid4().hex
        self.url, self.token = url, token
        self.resource = self.kernel = kernel
        self.resource_path = f"api/kernels/{kernel['id']}"
        ws_url = url.replace("http", "ws", 1).rstrip("/") + f"/api/kernels/{kernel['id']}/channels?session_id={self.session}"
        self.ws = websocket.create_connection(ws_url, header=[f"Authorization: token {token}"], timeout=START_TIMEOUT,
                                              subprotocols=[V1_PROTOCOL])
        self._wait_ready()


def one_kernel(url: str, token: str, kernelspec: str, cells: int) -> dict:
    """Start a kernel of `kernelspec`, time it, run `cells` round trips, shut it down."""
    started = time.perf_counter()
    kernel = api(url, "api/kernels", token, method="POST", body={"name": kernelspec}, timeout=START_TIMEOUT)
    socket = StartedKernel(url, token, kernel)
    start_seconds = time.perf_counter() - started
    try:
        check = socket.execute("print(6 * 7)")
        if check["status"] != "ok" or check["stdout"].strip() != "42":
            raise RuntimeError(f"{kernelspec}: a cell did not run: {check}")
        roundtrips = socket.roundtrips(cells)
    finally:
        socket.close()
    return {"start_s": start_seconds, "roundtrips_s": roundtrips}


def side(runs: list[dict]) -> dict:
    starts = [run["start_s"] for run in runs]
    trips = [value for run in runs for value in run["roundtrips_s"]]
    return {
        "kernels": len(runs),
        "cells": len(trips),
        "start_median_s": round(statistics.median(starts), 3),
        "start_min_s": round(min(starts), 3),
        "start_max_s": round(max(starts), 3),
        "roundtrip_median_ms": round(statistics.median(trips) * 1000, 3),
        "roundtrip_p99_ms": round(percentile(trips, 0.99) * 1000, 3),
    }


def report(figures: dict) -> str:
    rows = [("kernel", "kernelspec", "kernels", "start median s", "start min-max s", "round trip median ms",
             "round trip p99 ms")]
    for name in ("in_server", "pod"):
        f = figures[name]
        rows.append((name.replace("_", "-"), figures["settings"][name + "_kernel"], f["kernels"], f["start_median_s"],
                     f"{f['start_min_s']}-{f['start_max_s']}", f["roundtrip_median_ms"], f["roundtrip_p99_ms"]))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(value).rjust(width) for value, width in zip(row, widths)) for row in rows]
    r = figures["ratios"]
    lines.append(f"pod/in-server: start {r['start']:.2f}x, round trip median {r['roundtrip_median']:.2f}x, "
                 f"p99 {r['roundtrip_p99']:.2f}x; load average {figures['loadavg']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--namespace", default="remotedev-molecule", help="the instance's namespace (default: Molecule's)")
    parser.add_argument("--instance", default="molecule-neighbour",
                        help="jupyter_server_instance (default: Molecule's instance with pod kernels)")
    parser.add_argument("--url", default="", help="the server's URL (default: http://<Service ClusterIP>:<port><base URL>)")
    parser.add_argument("--pod-kernel", default="python3-pod", help="a kernelspec of jupyter_server_pod_kernels")
    parser.add_argument("--in-server-kernel", default="python3", help="a kernelspec of the image (the floor)")
    parser.add_argument("--starts", type=int, default=5, help="kernels started per side (default 5)")
    parser.add_argument("--cells", type=int, default=200, help="round trips per kernel (default 200)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    args = parser.parse_args(argv)
    try:
        _core, url, token, _pod, _container = discover(args.namespace, args.instance, args.url)
        specs = api(url, "api/kernelspecs", token)["kernelspecs"]
        missing = [k for k in (args.pod_kernel, args.in_server_kernel) if k not in specs]
        if missing:
            raise RuntimeError(f"kernelspecs {missing} not offered (the server has {sorted(specs)})")
    except Exception as exc:  # noqa: BLE001  pylint: disable=broad-except
        print(f"pod_kernels: cannot start: {exc}", file=sys.stderr)
        return 2
    figures = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.node()}, {os.cpu_count()} cores",
        "loadavg": " ".join(f"{value:.2f}" for value in os.getloadavg()),
        "settings": {"url": url, "pod_kernel": args.pod_kernel, "in_server_kernel": args.in_server_kernel,
                     "starts": args.starts, "cells": args.cells},
    }
    runs = {"in_server": [], "pod": []}
    try:
        for dummy in range(args.starts):
            runs["in_server"].append(one_kernel(url, token, args.in_server_kernel, args.cells))
            runs["pod"].append(one_kernel(url, token, args.pod_kernel, args.cells))
    except Exception as exc:  # noqa: BLE001  pylint: disable=broad-except
        print(f"pod_kernels: {exc}", file=sys.stderr)
        return 1
    figures["in_server"], figures["pod"] = side(runs["in_server"]), side(runs["pod"])
    floor, pod = figures["in_server"], figures["pod"]
    figures["ratios"] = {
        "start": round(pod["start_median_s"] / floor["start_median_s"], 3),
        "roundtrip_median": round(pod["roundtrip_median_ms"] / floor["roundtrip_median_ms"], 3),
        "roundtrip_p99": round(pod["roundtrip_p99_ms"] / floor["roundtrip_p99_ms"], 3),
    }
    figures["loadavg_after"] = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(report(figures))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
