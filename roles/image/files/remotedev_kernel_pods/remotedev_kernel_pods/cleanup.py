"""A server extension: at start, name this server process (the kernel pods it
launches carry the name) and delete the kernel pods that no live server
process owns (see remotedev_kernel_pods.orphans).

A server that was killed (OOM, node lost, pod deleted) leaves its kernel pods
running: their kernels' state lives only in the server that launched them
(connection info, session keys), which a new server does not have, so they
are deleted rather than reconnected. Needs the server's Role: pods list and
delete in its namespace. Runs in a thread, once, without delaying the
server's start; a failure is logged, never fatal.
"""

from __future__ import annotations

import os
import uuid

from remotedev_kernel_pods import (KERNEL_SELECTOR_ENV, SERVER_BOOT_ENV, SERVER_POD_ENV, SERVER_SELECTOR_ENV,
                                   orphans)


def delete_orphans(log) -> list[str]:
    """Delete the orphaned kernel pods of this server's instance; their names."""
    namespace = os.environ.get("GP_NAMESPACE", "")
    kernel_selector = os.environ.get(KERNEL_SELECTOR_ENV, "")
    server_selector = os.environ.get(SERVER_SELECTOR_ENV, "")
    if not (namespace and kernel_selector and server_selector and os.environ.get(SERVER_POD_ENV)):
        log.info("remotedev_kernel_pods: no kernel pod selectors in the environment: no orphan cleanup")
        return []
    from kubernetes import client, config  # pylint: disable=import-outside-toplevel
    from kubernetes.client.rest import ApiException  # pylint: disable=import-outside-toplevel

    config.load_incluster_config()
    api = client.CoreV1Api()
    serialize = client.ApiClient().sanitize_for_serialization
    kernels = serialize(api.list_namespaced_pod(namespace, label_selector=kernel_selector).items)
    servers = serialize(api.list_namespaced_pod(namespace, label_selector=server_selector).items)
    names = orphans(kernels, servers, os.environ[SERVER_POD_ENV], os.environ.get(SERVER_BOOT_ENV, ""))
    for name in names:
        log.warning("remotedev_kernel_pods: deleting kernel pod %s/%s, left by a server process that is gone",
                    namespace, name)
        try:
            api.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
        except ApiException as exc:
            if exc.status != 404:
                raise
    return names


def _load_jupyter_server_extension(serverapp):
    log = serverapp.log
    # Before any kernel starts: the launcher, a child of this process, labels
    # the kernel pods with it.
    os.environ[SERVER_BOOT_ENV] = uuid.uuid4().hex[:12]

    async def run():
        try:
            await serverapp.io_loop.run_in_executor(None, delete_orphans, log)
        except Exception as exc:  # pylint: disable=broad-except
            log.error("remotedev_kernel_pods: the orphaned kernel pods could not be cleaned: %s", exc)

    serverapp.io_loop.add_callback(run)
