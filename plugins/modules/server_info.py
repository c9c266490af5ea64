#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: server_info
short_description: Probe a running Jupyter Server
version_added: 1.0.0
description:
  - Reads the version, status, kernelspecs and running kernels of a Jupyter Server through its REST API.
  - Optionally starts a kernel, runs code in it over the kernel websocket (Jupyter messaging protocol 5.3),
    returns what it printed and evaluated, and shuts the kernel down again.
  - Authenticates with the server's token or with its password (the browser login form).
  - Changes nothing on the server apart from the temporary kernel of O(execute); always C(changed=false).
author:
  - remotedev.jupyter maintainers (!UNKNOWN)
requirements:
  - websocket-client >= 1.0 (only for O(execute))
options:
  url:
    description:
      - Base URL of the server including its C(base_url) path, for example C(http://127.0.0.1:8888/)
        or C(https://jupyter.example.internal/jupyter/).
      - Credentials and the token do not belong in the URL (use O(token) or O(password)).
    type: str
    required: true
  token:
    description:
      - The server's token (C(IdentityProvider.token)), sent in the C(Authorization) header.
      - A string; anything else is refused, never turned into its text form.
    type: raw
  password:
    description:
      - The server's password; the module logs in through C(/login) like a browser and uses the session
        cookie and the XSRF token.
      - A string; anything else is refused, never turned into its text form.
    type: raw
  validate_certs:
    description:
      - Verify the server's TLS certificate for C(https) URLs.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file with the CA certificates to trust for C(https) URLs (for example an internal CA). It must exist.
    type: path
  timeout:
    description:
      - Seconds to wait for each HTTP answer and for the websocket to open.
    type: int
    default: 30
  execute:
    description:
      - Run code in a new kernel and return its output. The kernel is shut down afterwards, also on errors.
      - The code also runs in check mode; give code that only reads.
    type: dict
    suboptions:
      code:
        description: The code to run.
        type: str
        required: true
      kernel:
        description: Kernelspec name; the server's default kernel when omitted.
        type: str
      timeout:
        description: Seconds to wait for the kernel to finish running the code.
        type: int
        default: 60
      fail_on_error:
        description:
          - Fail the task when the code raises an error (RV(execution.status=error)). With V(false) the
            error is only returned.
        type: bool
        default: true
extends_documentation_fragment:
  - remotedev.jupyter._attributes
  - remotedev.jupyter._attributes.actiongroup_jupyter
attributes:
  check_mode:
    support: full
    details:
      - This action does not modify state (except for the short-lived kernel of O(execute)).
  diff_mode:
    support: none
    details:
      - This action does not modify state.
  idempotent:
    support: full
    details:
      - This action does not modify state.
  platform:
    support: full
  action_group:
    support: full
notes:
  - Run it where the server is reachable, usually C(delegate_to=localhost) with a port-forward or an ingress URL.
seealso:
  - module: remotedev.jupyter.server_config
"""

EXAMPLES = r"""
- name: Check the server answers and lists the expected kernels
  remotedev.jupyter.server_info:
    url: http://127.0.0.1:8888/
    token: "{{ jupyter_token }}"
  register: jupyter
  failed_when: "'python3' not in jupyter.kernelspecs"

- name: Run code in a kernel through the ingress, logging in with the password
  remotedev.jupyter.server_info:
    url: https://jupyter.example.internal/jupyter/
    password: "{{ vault_jupyter_password }}"
    ca_path: /etc/ssl/certs/internal-ca.pem
    execute:
      kernel: python3
      code: |
        import sys
        print(sys.version_info[:2])
        6 * 7
  register: jupyter_check

- name: The kernel computed 42
  ansible.builtin.assert:
    that:
      - jupyter_check.execution.result == '42'
"""

RETURN = r"""
url:
  description: The base URL that was probed (without query).
  returned: success
  type: str
  sample: http://127.0.0.1:8888/
version:
  description: Jupyter Server version (C(GET /api)).
  returned: success
  type: str
  sample: 2.21.1
status:
  description: C(GET /api/status) - start time, last activity, number of connections and kernels.
  returned: success
  type: dict
  sample: {"started": "2026-01-01T12:00:00.000000Z", "last_activity": "2026-01-01T12:05:00.000000Z",
           "connections": 0, "kernels": 1}
default_kernel:
  description: Name of the server's default kernelspec.
  returned: success
  type: str
  sample: python3
kernelspecs:
  description: Kernelspecs by name - the kernel.json content (C(argv), C(display_name), C(language), ...)
    and C(resources).
  returned: success
  type: dict
  sample: {"python3": {"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
           "display_name": "Python 3 (ipykernel)", "language": "python", "resources": {}}}
kernels:
  description: Running kernels (C(GET /api/kernels)).
  returned: success
  type: list
  elements: dict
  sample: [{"id": "5e0cdb3a-...", "name": "python3", "execution_state": "idle", "connections": 1}]
execution:
  description: Result of O(execute).
  returned: when O(execute) is set
  type: dict
  contains:
    status:
      description: C(ok), C(error) or C(aborted) (from the kernel's execute_reply).
      type: str
      sample: ok
    stdout:
      description: Everything printed to standard output.
      type: str
      sample: "(3, 12)\n"
    stderr:
      description: Everything printed to standard error.
      type: str
      sample: ""
    result:
      description: The C(text/plain) form of the value of the last expression, or null.
      type: str
      sample: "42"
    data:
      description: The full MIME bundle of that value.
      type: dict
      sample: {"text/plain": "42"}
    execution_count:
      description: The kernel's execution counter for this run.
      type: int
      sample: 1
    ename:
      description: Exception class name when the code failed.
      type: str
      sample: ZeroDivisionError
    evalue:
      description: Exception message when the code failed.
      type: str
      sample: division by zero
    traceback:
      description: Traceback lines (colour codes removed) when the code failed.
      type: list
      elements: str
    kernel:
      description: Kernelspec name used.
      type: str
      sample: python3
    kernel_id:
      description: Id of the temporary kernel (shut down by now).
      type: str
    shutdown_error:
      description: Why the temporary kernel could not be shut down, or null.
      type: str
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.remotedev.jupyter.plugins.module_utils._server_info import (
    HAS_WEBSOCKET,
    WEBSOCKET_IMPORT_ERROR,
    JupyterServerClient,
    ServerInfoError,
    probe,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            # raw, not str: a mapping is refused, never sent as its repr.
            token=dict(type="raw", no_log=True),
            password=dict(type="raw", no_log=True),
            validate_certs=dict(type="bool", default=True),
            ca_path=dict(type="path"),
            timeout=dict(type="int", default=30),
            execute=dict(
                type="dict",
                options=dict(
                    code=dict(type="str", required=True),
                    kernel=dict(type="str"),
                    timeout=dict(type="int", default=60),
                    fail_on_error=dict(type="bool", default=True),
                ),
            ),
        ),
        mutually_exclusive=[("token", "password")],
        supports_check_mode=True,
    )
    params = module.params
    execute = params["execute"]
    if execute and not HAS_WEBSOCKET:
        module.fail_json(msg=missing_required_lib("websocket-client"), exception=WEBSOCKET_IMPORT_ERROR)
    if params["timeout"] <= 0 or (execute and execute["timeout"] <= 0):
        module.fail_json(msg="timeout and execute.timeout must be positive numbers of seconds")

    try:
        client = JupyterServerClient(
            params["url"],
            token=params["token"],
            password=params["password"],
            validate_certs=params["validate_certs"],
            ca_path=params["ca_path"],
            timeout=params["timeout"],
        )
        info = probe(client, execute)
    except ServerInfoError as exc:
        module.fail_json(msg=str(exc))

    execution = info.get("execution")
    if execution and execution.get("shutdown_error"):
        module.warn("the temporary kernel was not shut down: %s" % execution["shutdown_error"])
    if execution and execute["fail_on_error"] and execution["status"] != "ok":
        module.fail_json(
            msg="the code failed in kernel %s: %s: %s" % (execution["kernel"], execution["ename"], execution["evalue"]),
            changed=False,
            **info
        )
    module.exit_json(changed=False, **info)


if __name__ == "__main__":
    main()
