# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the kernel_execute module does, apart from AnsibleModule (private to this collection).

The code runs in a kernel of its own, started for it and shut down afterwards
whatever happened, so that one task never sees another's variables. In check
mode everything up to starting the kernel is done (login, kernel lookup), which
proves the run would get that far, and nothing is started.
"""

from __future__ import annotations

from ansible_collections.remotedev.jupyter.plugins.module_utils._server_info import ServerInfoError

# The keys every run returns besides changed/msg; a check-mode run returns
# them too, as None, so that templates reading them do not break under --check.
EXECUTION_KEYS = ("status", "stdout", "stderr", "result", "data", "execution_count", "ename", "evalue",
                  "traceback", "kernel_id", "shutdown_error")


def check_params(params):
    """Refuse bad values before anything connects; raises ServerInfoError naming the option."""
    for option in ("timeout", "code_timeout"):
        value = params.get(option)
        if value is None or value <= 0:
            raise ServerInfoError("%s must be a positive number of seconds, not %r" % (option, value))


def resolve_kernel(name, default_kernel, kernelspecs, shown_url):
    """The kernelspec name to start: name, or the server's default when name is empty."""
    chosen = name or default_kernel
    if not chosen:
        raise ServerInfoError("kernel: the server at %s has no default kernel; name one (available: %s)"
                              % (shown_url, ", ".join(sorted(kernelspecs)) or "none"))
    if chosen not in kernelspecs:
        raise ServerInfoError("kernel: unknown kernel %r at %s (available: %s)"
                              % (chosen, shown_url, ", ".join(sorted(kernelspecs)) or "none"))
    return chosen


def run_in_new_kernel(client, kernel, code, code_timeout):
    """Start a kernel, run code, shut the kernel down (also when the code or the channel failed)."""
    kernel_id = client.start_kernel(kernel)["id"]
    shutdown_error = None
    try:
        summary = client.run_code(kernel_id, code, code_timeout)
    finally:
        try:
            client.shutdown_kernel(kernel_id)
        except ServerInfoError as exc:
            shutdown_error = str(exc)
    summary["kernel_id"] = kernel_id
    summary["shutdown_error"] = shutdown_error
    return summary


def execute(client, params, check_mode=False):
    """The module's result (without failed): changed, msg, kernel and EXECUTION_KEYS."""
    if client.password:
        client.login()
    # GET api first: a wrong URL is told apart from a wrong kernel (with the base_url hint).
    client.version()
    default_kernel, kernelspecs = client.kernelspecs()
    kernel = resolve_kernel(params.get("kernel"), default_kernel, kernelspecs, client.shown_url)
    result = dict.fromkeys(EXECUTION_KEYS)
    result.update(kernel=kernel, url=client.shown_url)
    if check_mode:
        result.update(changed=True, msg="check mode: the code was not run; it would run in a new %s kernel" % kernel)
        return result
    result.update(run_in_new_kernel(client, kernel, params["code"], params["code_timeout"]))
    # The code may have changed anything the kernel can reach: like
    # ansible.builtin.command, a run that happened reports a change.
    result.update(changed=True, msg="ran in a new %s kernel: %s" % (kernel, result["status"]))
    return result


def failure_message(result, fail_on_error):
    """The task's failure message, or None when the result is not a failure."""
    if not fail_on_error or result.get("status") in (None, "ok"):
        return None
    if result.get("ename"):
        return "the code failed in kernel %s: %s: %s" % (result["kernel"], result["ename"], result["evalue"])
    return "the code did not complete in kernel %s (status %s)" % (result["kernel"], result["status"])
