"""`cluster.py status`: each component's PID, memory and health; the node, DNS,
memory of the whole cluster, the registry. As a table or as JSON."""

from __future__ import annotations

import json

from . import layout, registry
from .components import COMPONENTS
from .dns import dns_answers
from .health import HEALTH, healthy, node_ready
from .processes import cluster_pids, memory_kib, memory_of, running_pid

EXIT_ALL_UP, EXIT_SOME_DOWN, EXIT_NONE_UP = 0, 1, 3


def component_rows() -> list[tuple[str, str, str, str]]:
    """(name, PID, RSS, health) of each component, in start order."""
    rows = []
    for name in COMPONENTS:
        pid = running_pid(name)
        if not pid:
            rows.append((name, "-", "-", "stopped"))
            continue
        status, body = HEALTH[name]()
        health = "ok" if healthy(name) else f"unhealthy ({status} {body.strip()[:60]})"
        rows.append((name, str(pid), f"{memory_kib(pid)[0] / 1024:.0f} MiB", health))
    return rows


def exit_code(rows: list[tuple[str, str, str, str]]) -> int:
    running = [r for r in rows if r[1] != "-"]
    if not running:
        return EXIT_NONE_UP
    return EXIT_ALL_UP if len(running) == len(rows) and all(r[3] == "ok" for r in running) else EXIT_SOME_DOWN


def cluster_memory() -> dict[str, int]:
    """KiB of the cluster's own processes (components and runtime shims), and of its pods' apart."""
    groups = cluster_pids()
    own = [pid for name, pids in groups.items() if name != "pods" for pid in pids]
    own_rss, own_pss = memory_of(own)
    return {
        "processes": len(own),
        "rss": own_rss,
        "pss": own_pss,
        "pods_processes": len(groups.get("pods", [])),
        "pods_rss": memory_of(groups.get("pods", []))[0],
    }


def print_json(rows, node: str, memory: dict[str, int]) -> None:
    print(
        json.dumps(
            {
                "components": {r[0]: {"pid": r[1], "rss": r[2], "health": r[3]} for r in rows},
                "node": node,
                "node_ready": exit_code(rows) != EXIT_NONE_UP and node_ready(node),
                "memory_rss_kib": memory["rss"],
                "memory_pss_kib": memory["pss"],
                "pods_rss_kib": memory["pods_rss"],
                "state_dir": str(layout.STATE.root),
            },
            indent=2,
        )
    )


def print_table(rows, node: str, memory: dict[str, int]) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"{'COMPONENT':<{width}}  {'PID':>7}  {'RSS':>8}  HEALTH")
    for name, pid, rss, health in rows:
        print(f"{name:<{width}}  {pid:>7}  {rss:>8}  {health}")
    if exit_code(rows) != EXIT_NONE_UP:
        ready = "Ready" if node_ready(node) else "not Ready"
        answers = "answers" if dns_answers() else "no answer"
        print(f"node {node}: {ready}; DNS {layout.DNS_SERVICE_IP}: {answers}")
        print(
            f"memory: cluster {memory['rss'] / 1024:.0f} MiB RSS / {memory['pss'] / 1024:.0f} MiB PSS "
            f"({memory['processes']} processes: components and runtime shims); "
            f"pods {memory['pods_rss'] / 1024:.0f} MiB RSS ({memory['pods_processes']} processes)"
        )
    print(registry.status_line())
    print(f"state and logs: {layout.STATE.root} (logs in {layout.STATE.logs})")


def report(as_json: bool) -> int:
    """Prints the status; returns 0 when every component runs and is healthy, 3 when none runs, 1 otherwise."""
    rows = component_rows()
    node = layout.node_name()
    memory = cluster_memory()
    (print_json if as_json else print_table)(rows, node, memory)
    return exit_code(rows)
