"""Image role: time of a run with nothing changed, and the size of the pip
flavor with one kernel next to the size of its installed Python packages.

Target: a rebuild with nothing changed <= 3 s. Reported twice: the whole
ansible-playbook process (includes starting Ansible) and the role's own tasks
(from the play's timing in the json callback). The first, building run is
reported as the baseline of the same run. Not a test: nothing fails on a
number.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests/image"))

from conftest import run, run_role  # noqa: E402

REGISTRY = os.environ.get("REMOTEDEV_REGISTRY", "127.0.0.1:5000")
RUNS = int(os.environ.get("BENCH_RUNS", "5"))


def play_seconds(result) -> float:
    play = result.report["plays"][0]["play"]["duration"]
    start, end = (datetime.fromisoformat(play[key].replace("Z", "+00:00")) for key in ("start", "end"))
    return (end - start).total_seconds()


def mib(size: float) -> str:
    return f"{size / 2**20:8.1f} MiB"


def main() -> None:
    run([REPO / "scripts/local-registry", "start"])
    base = run([REPO / "scripts/debian-base-image", "--push", REGISTRY], timeout=1800).stdout.strip().splitlines()[-1]
    variables = {"image_registry": REGISTRY, "image_registry_tls": False, "image_push": True,
                 "image_repository": "remotedev-bench/jupyter-pip", "image_pip_base_image": base}

    started = time.monotonic()
    first = run_role(variables)
    first_wall = time.monotonic() - started
    if first.rc != 0:
        sys.exit(f"image role failed: {first.failure}")
    walls, plays = [], []
    for dummy in range(RUNS):
        started = time.monotonic()
        again = run_role(variables)
        walls.append(time.monotonic() - started)
        plays.append(play_seconds(again))
        assert again.rc == 0 and again.changed() == 0, again.failure
    print(f"\nimage role, pip flavor, podman, push to {REGISTRY}")
    print(f"first run ({'built' if first.changed() else 'already there'}): {first_wall:6.1f} s")
    print(f"nothing changed, {RUNS} runs: ansible-playbook wall time median {sorted(walls)[len(walls) // 2]:.2f} s, "
          f"role tasks median {sorted(plays)[len(plays) // 2]:.2f} s (target <= 3 s)")

    ref = first.facts["ref"]
    run(["podman", "pull", "-q", "--tls-verify=false", ref], timeout=600)
    image = int(run(["podman", "image", "inspect", "--format", "{{.Size}}", ref]).stdout)
    base_size = int(run(["podman", "image", "inspect", "--format", "{{.Size}}", base]).stdout)
    sizes = run(["podman", "run", "--rm", ref, "du", "-sb", "/opt/jupyter", "/opt/kernels"]).stdout.split()
    server_env, kernels_env = int(sizes[0]), int(sizes[2])
    site_packages = run(["podman", "run", "--rm", ref, "sh", "-c",
                         "du -scb /opt/jupyter/lib/python3*/site-packages /opt/kernels/*/lib/python3*/site-packages"
                         " | tail -1"]).stdout.split()[0]
    print(f"\nimage {ref}")
    print(f"  image (one kernel)          {mib(image)}")
    print(f"  base image                  {mib(base_size)}")
    print(f"  added by the role           {mib(image - base_size)}")
    print(f"  installed Python packages   {mib(int(site_packages))}  (site-packages of the server and kernel venvs)")
    print(f"    server venv /opt/jupyter  {mib(server_env)}")
    print(f"    kernel venv /opt/kernels  {mib(kernels_env)}")


if __name__ == "__main__":
    main()
