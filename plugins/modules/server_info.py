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
  - Authenticates with the server's token or with its password (the browser login form).
  - Read-only - only C(GET) requests after the login; it starts nothing and always returns C(changed=false).
    To run code in a kernel, use M(remotedev.jupyter.kernel_execute).
author:
  - remotedev.jupyter maintainers (!UNKNOWN)
extends_documentation_fragment:
  - remotedev.jupyter._server_connection
  - remotedev.jupyter._attributes
  - remotedev.jupyter._attributes.actiongroup_jupyter
attributes:
  check_mode:
    support: full
    details:
      - This action does not modify state.
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
  - module: remotedev.jupyter.kernel_execute
  - module: remotedev.jupyter.server_config
"""

EXAMPLES = r"""
- name: Check the server answers and lists the expected kernels
  remotedev.jupyter.server_info:
    url: http://127.0.0.1:8888/
    token: "{{ jupyter_token }}"
  register: jupyter
  failed_when: "'python3' not in jupyter.kernelspecs"

- name: Probe through the ingress, logging in with the password
  remotedev.jupyter.server_info:
    url: https://jupyter.example.internal/jupyter/
    password: "{{ vault_jupyter_password }}"
    ca_path: /etc/ssl/certs/internal-ca.pem
  register: jupyter_check

- name: No kernel is left running
  ansible.builtin.assert:
    that:
      - jupyter_check.kernels == []
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
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.remotedev.jupyter.plugins.module_utils._server_info import (
    SERVER_CONNECTION_ARGS,
    JupyterServerClient,
    ServerInfoError,
    probe,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(SERVER_CONNECTION_ARGS),
        mutually_exclusive=[("token", "password")],
        supports_check_mode=True,
    )
    params = module.params
    if params["timeout"] <= 0:
        module.fail_json(msg="timeout must be a positive number of seconds, not %r" % params["timeout"])

    try:
        client = JupyterServerClient(
            params["url"],
            token=params["token"],
            password=params["password"],
            validate_certs=params["validate_certs"],
            ca_path=params["ca_path"],
            timeout=params["timeout"],
        )
        info = probe(client)
    except ServerInfoError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **info)


if __name__ == "__main__":
    main()
