#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: kernel_execute
short_description: Run code in a new kernel of a running Jupyter Server
version_added: 1.0.0
description:
  - Starts a kernel on a Jupyter Server, runs code in it over the kernel websocket (Jupyter messaging protocol 5.3),
    returns what it printed and evaluated, and shuts the kernel down again, also when the code failed or timed out.
  - Authenticates with the server's token or with its password (the browser login form).
  - The code can change anything the kernel can reach, so a run always returns C(changed=true) (as
    M(ansible.builtin.command) does); use C(changed_when) for code that only reads.
  - To read the server's state without running anything, use M(remotedev.jupyter.server_info).
author:
  - remotedev.jupyter maintainers (!UNKNOWN)
requirements:
  - websocket-client >= 1.7.0
options:
  code:
    description:
      - The code to run, in the language of the kernel.
      - It is shown in the task's arguments like any other option; keep secrets out of it (read them in the
        kernel from a file instead), or set C(no_log) on the task.
    type: str
    required: true
  kernel:
    description:
      - Kernelspec name to start; the server's default kernel when omitted. An unknown name fails the task
        before any kernel is started.
    type: str
  code_timeout:
    description:
      - Seconds to wait for the kernel to finish running the code. When they are up, the task fails and the
        kernel is shut down.
    type: int
    default: 60
  fail_on_error:
    description:
      - Fail the task when the code raises an error (RV(status=error)). With V(false) the error is only returned.
    type: bool
    default: true
extends_documentation_fragment:
  - remotedev.jupyter._server_connection
  - remotedev.jupyter._attributes
  - remotedev.jupyter._attributes.actiongroup_jupyter
attributes:
  check_mode:
    support: full
    details:
      - In check mode the module logs in and checks the kernel exists, but starts no kernel and runs nothing;
        it returns C(changed=true) and the kernel it would use, with the other results null.
  diff_mode:
    support: none
  idempotent:
    support: none
    details:
      - Every run runs the code again and returns C(changed=true).
  platform:
    support: full
  action_group:
    support: full
notes:
  - Run it where the server is reachable, usually C(delegate_to=localhost) with a port-forward or an ingress URL.
seealso:
  - module: remotedev.jupyter.server_info
"""

EXAMPLES = r"""
- name: Compute in the default kernel; the code only reads, so report no change
  remotedev.jupyter.kernel_execute:
    url: http://127.0.0.1:8888/
    token: "{{ jupyter_token }}"
    code: |
      import sys
      print(sys.version_info[:2])
      6 * 7
  register: jupyter_run
  changed_when: false

- name: The kernel computed 42
  ansible.builtin.assert:
    that:
      - jupyter_run.result == '42'

- name: Write a file from a named kernel through the ingress, logging in with the password
  remotedev.jupyter.kernel_execute:
    url: https://jupyter.example.internal/jupyter/
    password: "{{ vault_jupyter_password }}"
    ca_path: /etc/ssl/certs/internal-ca.pem
    kernel: python3
    code: |
      with open("hello.txt", "w") as out:
          out.write("hello")
    code_timeout: 30

- name: Return a failing cell's error instead of failing the task
  remotedev.jupyter.kernel_execute:
    url: http://127.0.0.1:8888/
    token: "{{ jupyter_token }}"
    code: 1 / 0
    fail_on_error: false
  register: jupyter_failed
  changed_when: false
"""

RETURN = r"""
url:
  description: The server's base URL (without query).
  returned: success
  type: str
  sample: http://127.0.0.1:8888/
kernel:
  description: Kernelspec name used (or, in check mode, that would be used).
  returned: success
  type: str
  sample: python3
msg:
  description: What was done, or in check mode what would have been done.
  returned: always
  type: str
  sample: "ran in a new python3 kernel: ok"
status:
  description: C(ok), C(error) or C(aborted) (from the kernel's execute_reply); null in check mode.
  returned: success
  type: str
  sample: ok
stdout:
  description: Everything printed to standard output; null in check mode.
  returned: success
  type: str
  sample: "(3, 12)\n"
stderr:
  description: Everything printed to standard error; null in check mode.
  returned: success
  type: str
  sample: ""
result:
  description: The C(text/plain) form of the value of the last expression, or null.
  returned: success
  type: str
  sample: "42"
data:
  description: The full MIME bundle of that value; empty without a value, null in check mode.
  returned: success
  type: dict
  sample: {"text/plain": "42"}
execution_count:
  description: The kernel's execution counter for this run; null in check mode.
  returned: success
  type: int
  sample: 1
ename:
  description: Exception class name when the code failed, else null.
  returned: success
  type: str
  sample: ZeroDivisionError
evalue:
  description: Exception message when the code failed, else null.
  returned: success
  type: str
  sample: division by zero
traceback:
  description: Traceback lines (colour codes removed) when the code failed; empty otherwise, null in check mode.
  returned: success
  type: list
  elements: str
kernel_id:
  description: Id of the temporary kernel (shut down by now); null in check mode.
  returned: success
  type: str
  sample: 5e0cdb3a-7f7e-4a0e-9d55-0d9c1b2f6a11
shutdown_error:
  description: Why the temporary kernel could not be shut down, or null.
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.remotedev.jupyter.plugins.module_utils._kernel_execute import (
    check_params,
    execute,
    failure_message,
)
from ansible_collections.remotedev.jupyter.plugins.module_utils._server_info import (
    SERVER_CONNECTION_ARGS,
    HAS_WEBSOCKET,
    WEBSOCKET_IMPORT_ERROR,
    JupyterServerClient,
    ServerInfoError,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            SERVER_CONNECTION_ARGS,
            code=dict(type="str", required=True),
            kernel=dict(type="str"),
            code_timeout=dict(type="int", default=60),
            fail_on_error=dict(type="bool", default=True),
        ),
        mutually_exclusive=[("token", "password")],
        supports_check_mode=True,
    )
    params = module.params
    if not HAS_WEBSOCKET:
        module.fail_json(msg=missing_required_lib("websocket-client"), exception=WEBSOCKET_IMPORT_ERROR)
    try:
        check_params(params)
        client = JupyterServerClient(
            params["url"],
            token=params["token"],
            password=params["password"],
            validate_certs=params["validate_certs"],
            ca_path=params["ca_path"],
            timeout=params["timeout"],
        )
        result = execute(client, params, check_mode=module.check_mode)
    except ServerInfoError as exc:
        module.fail_json(msg=str(exc))

    if result["shutdown_error"]:
        module.warn("the temporary kernel was not shut down: %s" % result["shutdown_error"])
    failure = failure_message(result, params["fail_on_error"])
    if failure:
        result["msg"] = failure
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
