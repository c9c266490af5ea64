"""Load on a deployed Jupyter Server: N clients, each on a kernel of its own,
execute cells through the Jupyter Server's Service for a bounded time, next to
the direct-ZMQ floor at the same concurrency measured in the same run.

    bench/load.py --namespace NS --instance NAME            20 clients, 20 s each side
    bench/load.py --namespace NS --instance NAME --clients 10 --duration 30 --json figures.json
    bench/load.py --namespace NS --instance NAME --duration 5 --no-floor    (the correctness run of make test)

Service: the clients run here, a process each, speak the kernel websocket protocol of
jupyter_server (v1.kernel.websocket.jupyter.org, as JupyterLab does; --protocol
legacy for JSON frames) through the Service's ClusterIP (on the local cluster
kube-proxy routes it on this host; --url for another way in, e.g. a
port-forward). The token is read from the instance's Secret, never from the
command line.

Floor: the same number of kernels of the same kernelspec, started with
jupyter_client's KernelManager inside the Jupyter pod (`exec`) over the
server's kernel transport (--transport, ipc like the role's default), each driven by
a BlockingKernelClient in a process of its own: the kernels, the container and
its CPU share are the Service run's, without the server, the websocket and the
Service in between. The two sides run one after the other, never together.

Each client sends `k + 1` (k counting up per client) and waits for the
execute_reply and the kernel's idle status before the next; a cell counts when
its reply is `ok` and its result is k + 1 (a cross-talk between clients would
show). Errors: anything else, and every exception. A kernel is lost when it
reported `restarting` or `dead`, or when it is missing or not idle in
GET /api/kernels after the run. Figures: cells/s, p50/p99 latency (send to
idle), cells per client (min/max), and the Service/floor ratios.

Exit status: 1 when a cell failed or a kernel was lost (also with --no-floor),
or, with --min-ratio R, when the Service's throughput is below R times the
floor's; 2 when the run could not start.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests/image"))

from jupyter_probe import KernelSocket, _message, api  # noqa: E402

# A message that does not come back within this many seconds is an error.
MESSAGE_TIMEOUT = 30
KERNEL_START_TIMEOUT = 180
LOST_STATES = ("restarting", "dead", "autorestarting")

# The floor, run inside the Jupyter pod with the server environment's Python:
# argv clients, duration, kernel name; prints one JSON document.
FLOOR = r"""
import json, multiprocessing, random, socket, sys, time
from jupyter_client.manager import KernelManager

clients, duration, kernel, transport = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
CHANNELS = ("shell_port", "iopub_port", "stdin_port", "hb_port", "control_port")


# Distinct free ports, all held at once while asked for, below the ephemeral
# range: kernels started side by side must not pick the same one, and no
# client's outgoing connection may take one before its kernel binds it.
def free_ports(count):
    held = []
    for port in random.sample(range(20000, 32000), 4 * count):
        sock = socket.socket()
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            continue
        held.append(sock)
        if len(held) == count:
            break
    ports = [sock.getsockname()[1] for sock in held]
    for sock in held:
        sock.close()
    return ports


def work(index, ports, start, report):
    latencies, errors, lost = [], [], False
    if transport == "ipc":
        import tempfile
        manager = KernelManager(kernel_name=kernel, transport="ipc", ip=tempfile.mkdtemp(prefix="floor-") + "/kernel")
    else:
        manager = KernelManager(kernel_name=kernel, **dict(zip(CHANNELS, ports)))
    manager.start_kernel()
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=180)
    except Exception as exc:
        errors.append("not ready: %r" % exc)
    start.wait()
    stop_at = time.monotonic() + duration
    k = 0
    while not errors and time.monotonic() < stop_at:
        k += 1
        begin = time.perf_counter()
        try:
            msg_id = client.execute("%d + 1" % k, store_history=False)
            while True:
                reply = client.get_shell_msg(timeout=30)
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
            result, idle = None, False
            while not idle:
                msg = client.get_iopub_msg(timeout=30)
                state = msg["content"].get("execution_state") if msg["msg_type"] == "status" else None
                if state in ("restarting", "dead"):
                    lost = True
                    raise RuntimeError("kernel " + state)
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                if msg["msg_type"] == "execute_result":
                    result = msg["content"]["data"].get("text/plain")
                idle = state == "idle"
        except Exception as exc:
            errors.append(repr(exc))
            break
        latencies.append(time.perf_counter() - begin)
        if reply["content"]["status"] != "ok" or result != str(k + 1):
            errors.append("cell %d: %s, result %r" % (k, reply["content"]["status"], result))
    lost = lost or not manager.is_alive()
    client.stop_channels()
    manager.shutdown_kernel(now=True)
    report.put((index, {"latencies": latencies, "errors": errors, "lost": lost}))


# A process per client, as every user's client is one: no client waits for
# another's turn on the interpreter lock.
context = multiprocessing.get_context("fork")
start, report = context.Barrier(clients + 1), context.Queue()
ports = free_ports(clients * len(CHANNELS))
processes = [context.Process(target=work, args=(i, ports[i * len(CHANNELS):(i + 1) * len(CHANNELS)], start, report))
             for i in range(clients)]
for process in processes:
    process.start()
start.wait()
started = time.perf_counter()
results = [None] * clients
for dummy in range(clients):
    index, result = report.get()
    results[index] = result
elapsed = time.perf_counter() - started
for process in processes:
    process.join()
print(json.dumps({"elapsed": elapsed, "clients": results}))
"""


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile; 0 for no samples."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


def summarize(elapsed: float, clients: list[dict]) -> dict:
    """Figures of one side from each client's latencies, errors and lost flag."""
    latencies = [value for client in clients for value in client["latencies"]]
    counts = [len(client["latencies"]) for client in clients]
    return {
        "clients": len(clients),
        "seconds": round(elapsed, 3),
        "cells": len(latencies),
        "cells_per_s": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(statistics.median(latencies) * 1e3, 2) if latencies else 0.0,
        "p99_ms": round(percentile(latencies, 0.99) * 1e3, 2),
        "cells_per_client_min": min(counts, default=0),
        "cells_per_client_max": max(counts, default=0),
        "errors": sum(len(client["errors"]) for client in clients),
        "error_samples": [error for client in clients for error in client["errors"]][:5],
        "kernels_lost": sum(1 for client in clients if client["lost"]),
    }


class LoadClient(KernelSocket):
    """A kernel of its own through the server's REST API and websocket; cells
    are checked, and a kernel that restarts or dies is noticed whoever's
    message announces it."""

    lost = False

    def cell(self, k: int) -> str | None:
        """Runs `k + 1`; returns None when it answered k + 1, else what went wrong."""
        request = _message("execute_request", {"code": f"{k} + 1", "silent": False, "store_history": False,
                                               "user_expressions": {}, "allow_stdin": False,
                                               "stop_on_error": True}, self.session)
        msg_id = request["header"]["msg_id"]
        self._send(request)
        reply, result, idle = None, None, False
        deadline = time.monotonic() + self.timeout
        while reply is None or not idle:
            if time.monotonic() > deadline:
                return f"cell {k}: no reply and idle within {self.timeout}s"
            msg = self._recv()
            state = msg["content"].get("execution_state") if msg["msg_type"] == "status" else None
            if state in LOST_STATES:
                self.lost = True
                return f"cell {k}: kernel {state}"
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "execute_reply":
                reply = msg
            elif msg["msg_type"] == "execute_result":
                result = msg["content"]["data"].get("text/plain")
            idle = idle or state == "idle"
        if reply["content"]["status"] != "ok" or result != str(k + 1):
            return f"cell {k}: {reply['content']['status']}, result {result!r}"
        return None


def service_client(index: int, url: str, token: str, duration: float, kernel: str, protocol: str,
                   start, checked, report) -> None:
    """One client in a process of its own: its kernel, then cells until the
    deadline; it reports, and closes its kernel only after the server was
    asked about every kernel."""
    result = {"latencies": [], "errors": [], "lost": False, "kernel": None}
    client = None
    try:
        # Twenty kernels starting at once on two cores take a while; only
        # the cells are held to MESSAGE_TIMEOUT.
        client = LoadClient(url, token, kernel_name=kernel, timeout=KERNEL_START_TIMEOUT, protocol=protocol)
        client.timeout = MESSAGE_TIMEOUT
        client.ws.settimeout(MESSAGE_TIMEOUT)
        result["kernel"] = client.kernel["id"]
    except Exception as exc:  # noqa: BLE001 (every failure is a figure)
        result["errors"].append(f"kernel start: {exc!r}")
    start.wait()
    stop_at = time.monotonic() + duration
    k = 0
    while client and not result["errors"] and time.monotonic() < stop_at:
        k += 1
        begin = time.perf_counter()
        try:
            error = client.cell(k)
        except Exception as exc:  # noqa: BLE001
            error = f"cell {k}: {exc!r}"
        if error:
            result["errors"].append(error)
        else:
            result["latencies"].append(time.perf_counter() - begin)
    result["lost"] = bool(client and client.lost)
    report.put((index, result))
    checked.wait()
    if client is not None:
        client.close()


def run_service(url: str, token: str, clients: int, duration: float, kernel: str, protocol: str,
                server_cpu=None) -> dict:
    """The clients through the server, a process each (as every user's client
    is one: no client waits for another's turn on the interpreter lock);
    kernels are deleted again at the end. `server_cpu()`, when given, returns
    the server process's CPU seconds: read once the kernels are up and again
    when the last client reported, it gives the server's CPU per cell."""
    context = multiprocessing.get_context("fork")
    start, checked, report = context.Barrier(clients + 1), context.Barrier(clients + 1), context.Queue()
    processes = [context.Process(target=service_client, args=(index, url, token, duration, kernel, protocol,
                                                              start, checked, report))
                 for index in range(clients)]
    for process in processes:
        process.start()
    results: list[dict] = [{}] * clients
    try:
        start.wait()
        started = time.perf_counter()
        cpu_before = server_cpu() if server_cpu else None
        for dummy in range(clients):
            index, result = report.get()
            results[index] = result
        elapsed = time.perf_counter() - started
        cpu_after = server_cpu() if server_cpu else None
        # After the run, every kernel must still be there and idle.
        listed = {kernel["id"]: kernel for kernel in api(url, "api/kernels", token)}
        for result in results:
            if result["kernel"] is not None:
                state = listed.get(result["kernel"], {}).get("execution_state")
                if state != "idle":
                    result["lost"] = True
                    result["errors"].append(f"after the run the kernel is {state or 'gone'}")
    finally:
        checked.wait()
        for process in processes:
            process.join()
    figures = summarize(elapsed, results)
    if cpu_before is not None and cpu_after is not None and figures["cells"]:
        figures["server_cpu_ms_per_cell"] = round(1000 * (cpu_after - cpu_before) / figures["cells"], 3)
    return figures


def run_floor(core, namespace: str, pod: str, container: str, clients: int, duration: float, kernel: str,
              transport: str) -> dict:
    from kubernetes.stream import stream

    output = stream(core.connect_get_namespaced_pod_exec, pod, namespace, container=container,
                    command=["python3", "-c", FLOOR, str(clients), str(duration), kernel, transport],
                    stderr=True, stdin=False, stdout=True, tty=False, _request_timeout=duration + 300)
    # The kernels' own chatter may come first; the figures are the last line.
    document = json.loads(output.strip().splitlines()[-1])
    return summarize(document["elapsed"], document["clients"])


# utime + stime of the server process (comm "jupyter-server", the entry
# point's name) from /proc inside its container; kernels are its children
# and are not counted.
SERVER_CPU = """
import os
for pid in os.listdir("/proc"):
    try:
        stat = open("/proc/%s/stat" % pid).read()
    except OSError:
        continue
    if stat[stat.find("(") + 1:stat.rfind(")")] == "jupyter-server":
        fields = stat[stat.rfind(")") + 2:].split()
        print((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
"""


def server_cpu_reader(core, namespace: str, pod: str, container: str):
    """A callable returning the server process's CPU seconds (None if not found)."""
    from kubernetes.stream import stream

    def read() -> float | None:
        output = stream(core.connect_get_namespaced_pod_exec, pod, namespace, container=container,
                        command=["python3", "-c", SERVER_CPU], stderr=True, stdin=False, stdout=True, tty=False,
                        _request_timeout=60)
        values = [float(line) for line in output.split() if line.replace(".", "", 1).isdigit()]
        return values[0] if len(values) == 1 else None

    return read


def discover(namespace: str, instance: str, url: str):
    """The Service's URL, the token from the Secret, the Ready Jupyter pod."""
    from kubernetes import client, config

    config.load_kube_config(config_file=os.environ.get("KUBECONFIG") or None)
    core = client.CoreV1Api()
    name = f"jupyter-{instance}"
    if not url:
        service = core.read_namespaced_service(name, namespace)
        # The role's annotation carries the base URL (e.g. /team-a/ behind a shared host).
        base_path = urlsplit((service.metadata.annotations or {}).get("remotedev.jupyter/url", "/")).path or "/"
        url = f"http://{service.spec.cluster_ip}:{service.spec.ports[0].port}{base_path}"
    token = base64.b64decode(core.read_namespaced_secret(name, namespace).data["token"]).decode()
    pods = core.list_namespaced_pod(namespace, label_selector=f"app.kubernetes.io/name=jupyter-server,app.kubernetes.io/instance={instance}")
    ready = [pod for pod in pods.items if not pod.metadata.deletion_timestamp
             and any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])]
    if not ready:
        raise RuntimeError(f"no Ready pod of {namespace}/{name}")
    return core, url, token, ready[0].metadata.name, ready[0].spec.containers[0].name


def report(figures: dict) -> str:
    rows = [("side", "clients", "seconds", "cells", "cells/s", "p50 ms", "p99 ms", "per client", "errors", "lost")]
    for side in ("floor", "service"):
        f = figures.get(side)
        if f:
            rows.append((side, f["clients"], f["seconds"], f["cells"], f["cells_per_s"], f["p50_ms"], f["p99_ms"],
                         f"{f['cells_per_client_min']}-{f['cells_per_client_max']}", f["errors"], f["kernels_lost"]))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(value).rjust(width) for value, width in zip(row, widths)) for row in rows]
    if "ratios" in figures:
        r = figures["ratios"]
        lines.append(f"service/floor: throughput {r['throughput']:.2f}x (goal >= 0.8), p50 {r['p50']:.2f}x, p99 {r['p99']:.2f}x")
    if figures["service"].get("server_cpu_ms_per_cell") is not None:
        lines.append(f"server process CPU per cell: {figures['service']['server_cpu_ms_per_cell']:.2f} ms")
    for error in figures["service"]["error_samples"]:
        lines.append(f"service error: {error}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--namespace", required=True, help="the instance's namespace")
    parser.add_argument("--instance", required=True, help="jupyter_server_instance (the objects are jupyter-<instance>)")
    parser.add_argument("--url", default="", help="the server's URL (default: http://<Service ClusterIP>:<port><base URL>/)")
    parser.add_argument("--clients", type=int, default=20, help="clients, each on a kernel of its own (default 20)")
    parser.add_argument("--duration", type=float, default=20, help="seconds each side executes cells (default 20)")
    parser.add_argument("--kernel", default="python3", help="kernelspec (default python3)")
    parser.add_argument("--protocol", choices=("v1", "legacy"), default="v1", help="kernel websocket protocol (default v1)")
    parser.add_argument("--transport", choices=("ipc", "tcp"), default="ipc",
                        help="the floor kernels' transport: the server's jupyter_server_kernel_transport (default ipc)")
    parser.add_argument("--no-floor", action="store_true", help="only the Service side (the correctness run)")
    parser.add_argument("--min-ratio", type=float, default=0.0, metavar="R",
                        help="exit 1 when the Service's cells/s is below R x the floor's (default: report only)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    args = parser.parse_args(argv)

    try:
        core, url, token, pod, container = discover(args.namespace, args.instance, args.url)
    except Exception as exc:  # noqa: BLE001
        print(f"load: cannot start: {exc}", file=sys.stderr)
        return 2
    figures = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.node()}, {os.cpu_count()} cores",
        "run": uuid.uuid4().hex[:8],
        "settings": {"clients": args.clients, "duration": args.duration, "kernel": args.kernel, "protocol": args.protocol,
                     "transport": args.transport,
                     "url": url, "pod": f"{args.namespace}/{pod}"},
    }
    if not args.no_floor:
        figures["floor"] = run_floor(core, args.namespace, pod, container, args.clients, args.duration, args.kernel,
                                     args.transport)
    figures["service"] = run_service(url, token, args.clients, args.duration, args.kernel, args.protocol,
                                     server_cpu_reader(core, args.namespace, pod, container))
    if "floor" in figures and figures["floor"]["cells_per_s"]:
        floor, service = figures["floor"], figures["service"]
        figures["ratios"] = {
            "throughput": round(service["cells_per_s"] / floor["cells_per_s"], 3),
            "p50": round(service["p50_ms"] / floor["p50_ms"], 3) if floor["p50_ms"] else 0.0,
            "p99": round(service["p99_ms"] / floor["p99_ms"], 3) if floor["p99_ms"] else 0.0,
        }
    print(report(figures))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    service = figures["service"]
    failed = service["errors"] > 0 or service["kernels_lost"] > 0 or service["cells"] == 0
    if "floor" in figures:
        failed = failed or figures["floor"]["errors"] > 0 or figures["floor"]["kernels_lost"] > 0
    if args.min_ratio and figures.get("ratios", {}).get("throughput", 0) < args.min_ratio:
        print(f"load: the Service's throughput is below {args.min_ratio}x the floor's", file=sys.stderr)
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
