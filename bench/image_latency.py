"""Kernel execute_request round-trip through the image's Jupyter Server,
against the direct-ZMQ floor measured in the same run.

Target: through the image's server (with remotedev_nodelay) <= 1.3x the floor;
the stock server (same image, extension off) shows Nagle's delay (~9x).

Builds (or reuses, content-addressed) the default pip-flavor image with the
image role and podman, runs it twice on the host network (extension on and
off), and measures:
  - floor (host): jupyter_client straight to a kernel of the controller venv,
  - floor (image): jupyter_client inside the container to the image's kernel,
  - websocket round-trips through both servers, and through local venv
    servers for reference.
Prints p50s and ratios. Not a test: nothing fails on a number.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests/image"))

from conftest import run, run_role  # noqa: E402
from jupyter_probe import KernelSocket, LocalServer, free_port, p50, wait_for_api, zmq_roundtrips  # noqa: E402

SAMPLES = int(os.environ.get("BENCH_SAMPLES", "200"))
REGISTRY = os.environ.get("REMOTEDEV_REGISTRY", "127.0.0.1:5000")
EXTENSION_SRC = REPO / "roles/image/files/remotedev_nodelay"

# Measured inside the container with the server environment's jupyter_client.
IMAGE_FLOOR = r"""
import json, statistics, sys, time
from jupyter_client.manager import start_new_kernel
km, kc = start_new_kernel(kernel_name="python3")
times = []
for dummy in range(int(sys.argv[1])):
    start = time.perf_counter()
    msg_id = kc.execute("1+1", store_history=False)
    while kc.get_shell_msg(timeout=30)["parent_header"].get("msg_id") != msg_id:
        pass
    times.append(time.perf_counter() - start)
    while True:
        msg = kc.get_iopub_msg(timeout=30)
        if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                and msg["content"]["execution_state"] == "idle"):
            break
kc.stop_channels(); km.shutdown_kernel(now=True)
print(json.dumps(times))
"""


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:7.2f} ms"


def main() -> None:
    run([REPO / "scripts/local-registry", "start"])
    base = run([REPO / "scripts/debian-base-image", "--push", REGISTRY], timeout=1800).stdout.strip().splitlines()[-1]
    built = run_role({"image_registry": REGISTRY, "image_registry_tls": False, "image_push": True,
                      "image_repository": "remotedev-bench/jupyter-pip", "image_pip_base_image": base})
    if built.rc != 0:
        sys.exit(f"image role failed: {built.failure}")
    ref = built.facts["ref"]
    run(["podman", "pull", "-q", "--tls-verify=false", ref], timeout=600)
    token = uuid.uuid4().hex
    containers = {}
    try:
        for label, extra in (("nodelay", []), ("stock", ["--ServerApp.jpserver_extensions=remotedev_nodelay=False"])):
            port = free_port()
            name = f"bench-jupyter-{label}-{uuid.uuid4().hex[:6]}"
            run(["podman", "run", "-d", "--name", name, "--network", "host", ref, "jupyter", "server",
                 f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", *extra])
            containers[label] = (name, f"http://127.0.0.1:{port}/")
            wait_for_api(containers[label][1], timeout=90)

        results = {}
        results["floor (host venv, ZMQ)"] = p50(zmq_roundtrips(SAMPLES))
        name = containers["nodelay"][0]
        image_floor = json.loads(run(["podman", "exec", name, "/opt/jupyter/bin/python", "-c", IMAGE_FLOOR,
                                      str(SAMPLES)], timeout=600).stdout)
        results["floor (image kernel, ZMQ)"] = p50(image_floor)
        for label in ("nodelay", "stock"):
            for protocol in ("legacy", "v1"):
                with KernelSocket(containers[label][1], token, protocol=protocol) as socket:
                    results[f"image server, {protocol} ws, {label}"] = p50(socket.roundtrips(SAMPLES))
        for label, exts in (("nodelay", {"remotedev_nodelay": True}), ("stock", {})):
            with LocalServer(extensions=exts, extra_pythonpath=[str(EXTENSION_SRC)]) as server:
                with KernelSocket(server.url, server.token) as socket:
                    results[f"venv server, websocket, {label}"] = p50(socket.roundtrips(SAMPLES))
    finally:
        for name, dummy in containers.values():
            subprocess.run(["podman", "rm", "-f", name], capture_output=True, check=False)

    floor = min(results["floor (host venv, ZMQ)"], results["floor (image kernel, ZMQ)"])
    print(f"\nKernel execute_request round-trip ('1+1'), p50 of {SAMPLES} after warm-up; image {ref}")
    print(f"{'path':<40} {'p50':>10}  {'x floor':>8}")
    for label, value in results.items():
        print(f"{label:<40} {ms(value):>10}  {value / floor:8.2f}")
    print()
    for protocol in ("legacy", "v1"):
        target = results[f"image server, {protocol} ws, nodelay"] / floor
        print(f"image server with remotedev_nodelay, {protocol} websocket protocol: {target:.2f}x the ZMQ floor "
              f"(target <= 1.3x); stock: {results[f'image server, {protocol} ws, stock'] / floor:.2f}x")


if __name__ == "__main__":
    main()
