"""The kernel provisioner: gateway_provisioners' KubernetesProvisioner, whose
launch names the reason a kernel pod does not start and gives up at once when
waiting cannot help.

Kernel pods live in the server's namespace (KERNEL_NAMESPACE in the
kernelspec's env): the provisioner never creates a namespace or a role
binding, so the server's Role needs only pods (create, get, list, watch,
delete) there.
"""

from __future__ import annotations

import functools
import typing as t

from gateway_provisioners.k8s import KubernetesProvisioner, client
from gateway_provisioners.remote_provisioner import RemoteProvisionerBase
from gateway_provisioners.response_manager import ResponseManager
from tornado.web import HTTPError

from remotedev_kernel_pods import COMPONENT, COMPONENT_LABEL, KERNEL_ID_LABEL, current_pod, pod_problem


def _nonblocking(prepare: t.Callable[[ResponseManager], None]) -> t.Callable[[ResponseManager], None]:
    @functools.wraps(prepare)
    def prepare_nonblocking(self: ResponseManager) -> None:
        prepare(self)
        self._response_socket.setblocking(False)  # pylint: disable=protected-access

    prepare_nonblocking.remotedev_nonblocking = True  # type: ignore[attr-defined]
    return prepare_nonblocking


# Upstream's ResponseManager (the socket on which kernels call the server back)
# gives its listening socket a 10 ms timeout and accepts on it from a tornado
# PeriodicCallback every 0.1 ms: once the first pod kernel had started, every
# run blocked the server's event loop in accept() for up to 10 ms, and every
# kernel's messages, in-server ones too, took about 40 ms instead of 4. A
# non-blocking socket makes the callback's accept wait on the event loop
# (PeriodicCallback awaits it before its next run).
if not getattr(ResponseManager._prepare_response_socket, "remotedev_nonblocking", False):  # pylint: disable=protected-access
    ResponseManager._prepare_response_socket = _nonblocking(ResponseManager._prepare_response_socket)  # pylint: disable=protected-access


class RemotedevKubernetesProvisioner(KubernetesProvisioner):
    """KubernetesProvisioner with launch failures that say why."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._pod: t.Optional[dict] = None

    async def pre_launch(self, **kwargs: t.Any) -> dict[str, t.Any]:
        """Upstream's, forgetting the pod of the previous launch: a restart's
        launch must not judge the new pod by the one it replaces (an OOM-killed
        pod would fail the restart at once)."""
        self._pod = None
        return await super().pre_launch(**kwargs)

    def get_container_status(self, iteration: t.Optional[str]) -> str:
        """The pod's phase (lower case), as upstream; the pod itself is kept for
        handle_launch_timeout, so a launch lists the pod once per poll."""
        selector = "%s=%s,%s=%s" % (KERNEL_ID_LABEL, self.kernel_id, COMPONENT_LABEL, COMPONENT)
        found = client.CoreV1Api().list_namespaced_pod(namespace=self.kernel_namespace, label_selector=selector)
        self._pod = current_pod(client.ApiClient().sanitize_for_serialization(found.items)) if found else None
        if self._pod is None:
            return ""
        self.container_name = self._pod["metadata"]["name"]
        status = self._pod.get("status") or {}
        phase = (status.get("phase") or "").lower()
        if phase == "running" and not self.assigned_host:
            self.assigned_ip = status.get("podIP")
            self.assigned_host = self.container_name
            self.assigned_node_ip = status.get("hostIP")
        if iteration:
            self.log.debug("%s: kernel pod %s/%s is %s, IP %s, kernel %s", iteration, self.kernel_namespace,
                           self.container_name, phase, self.assigned_ip, self.kernel_id)
        return phase

    async def handle_launch_timeout(self):
        """Fail at once when the pod cannot start (an image pull in back-off, an
        invalid image, a container that cannot be created or has ended), and at
        launch_timeout with the reason the pod is still not running; the client
        gets that reason as the error of its kernel start."""
        problem, fatal = pod_problem(self._pod)
        elapsed = RemoteProvisionerBase.get_time_diff(self.start_time) if self.start_time else 0.0
        if problem and (fatal or elapsed > self.launch_timeout):
            message = ("Kernel %s (%s) did not start%s: kernel pod %s/%s %s"
                       % (self.kernel_id, self.kernel_spec.display_name,
                          "" if fatal else " within %ss (launch_timeout)" % self.launch_timeout,
                          self.kernel_namespace, self.container_name, problem))
            await self.kill()
            # An HTTPError: jupyter_server shows its message to the client (the
            # REST API's "message", JupyterLab's dialog) instead of "Unhandled error".
            self.log_and_raise(HTTPError(500, message, reason="Kernel pod did not start"))
        await super().handle_launch_timeout()
