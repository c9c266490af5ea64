#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: instance
short_description: Converge, remove, render or inspect one instance of a deployable component
version_added: 1.0.0
description:
  - The deploy engine behind the roles M(remotedev.jupyter.jupyter_server) and M(remotedev.jupyter.code_server)
    (and any later deployable). Called by those roles once per instance; use the roles rather than this module.
  - Reads the component's role variables (C(<component>_*), every option documented in the role's
    C(meta/argument_specs.yml)) from the task's variables and checks them against that spec, then validates them
    together (names, ranges, paths, traits), all before the first change.
  - Resolves the credentials (an explicit value, else the value already in the cluster's Secret, else one
    generated once), builds the objects, applies each with server-side apply (field manager
    C(<component>_field_manager)) in one API session, removes the optional objects that are switched off, and
    waits for the pods of exactly the applied pod template, giving up early with the reason when a container
    cannot start by itself.
  - With C(<component>_state=absent) removes everything but the data volume (PVC) and the namespace; the PVC
    too with C(<component>_purge_data=true).
  - With C(<component>_render_only=true) writes the manifests to C(<component>_render_dest) (Secret values
    redacted) without contacting a cluster.
  - Runs on the controller (an action plugin); the Kubernetes API is reached with the kubeconfig
    (C(<component>_kubeconfig), C(K8S_AUTH_KUBECONFIG), C(KUBECONFIG), C(~/.kube/config)) or the pod's service
    account. Client certificates, tokens, token files and exec credential plugins are supported.
author:
  - remotedev.jupyter maintainers (!UNKNOWN)
options:
  component:
    description:
      - The component, which is also the prefix of its variables and the name of its role.
    type: str
    required: true
    choices: [jupyter_server, code_server, frontend]
  mode:
    description:
      - V(converge) does what the variables ask for (converge, remove or render).
      - V(status) only reads (the Deployment, its pods, and for C(jupyter_server) the server's own API with the
        token from the Secret) and reports; supported for C(jupyter_server). The one exception is the role's
        C(jupyter_server_status_code), run in a new kernel when given, and never in check mode.
      - V(validate) only checks the variables (every check that needs no cluster) and contacts nothing; the
        C(deploy) playbook runs it for every role before the first change of any.
    type: str
    choices: [converge, status, validate]
    default: converge
extends_documentation_fragment:
  - remotedev.jupyter._attributes
attributes:
  check_mode:
    support: full
    details:
      - Every apply and delete is a server-side dry run. While the namespace does not exist yet, the objects
        in it are listed as would-be-created.
  diff_mode:
    support: full
    details:
      - One diff per changed object, as YAML, without the fields the API server owns; Secret values are
        shown only as redacted, changed or unchanged.
  idempotent:
    support: full
  platform:
    support: full
    details:
      - Runs on the controller and talks to the Kubernetes API.
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
  async:
    description: Supports being used with the C(async) keyword.
    support: none
  bypass_host_loop:
    description: Forces a 'global' task that does not execute per host.
    support: none
notes:
  - No secret is returned, shown in a diff or written by render_only; the connection summary shows the token or
    the generated code-server password only when the role's C(*_show_token)/C(*_show_password) asks for it.
seealso:
  - module: remotedev.jupyter.server_config
  - module: remotedev.jupyter.password_hash
"""

EXAMPLES = r"""
# The roles call it like this; their variables are the module's input.
- name: Converge the Jupyter Server
  remotedev.jupyter.instance:
    component: jupyter_server
  register: jupyter_server_result

- name: How the instance is doing
  remotedev.jupyter.instance:
    component: jupyter_server
    mode: status
"""

RETURN = r"""
changes:
  description: What was (or in check mode, would be) done, one line per object.
  returned: always
  type: list
  elements: str
  sample: ["created Secret/jupyter-team-a", "updated Deployment/jupyter-team-a"]
summary:
  description: Lines telling how to connect (or what was removed or rendered).
  returned: always
  type: list
  elements: str
connection:
  description:
    - How clients reach the instance; never holds a secret. Also set as the fact C(<component>_connection).
  returned: when converged
  type: dict
  sample:
    name: jupyter-team-a
    namespace: remotedev-jupyter
    in_cluster_url: http://jupyter-team-a.remotedev-jupyter.svc.cluster.local:8888/
    external_url: ""
    secret_name: jupyter-team-a
    token_key: token
    client_label: remotedev.jupyter/jupyter-client
    password_login: true
dest:
  description: The file the manifests were rendered to.
  returned: with render_only
  type: str
status:
  description: What mode=status found (Deployment, pods, the server's version, kernelspecs and kernels).
  returned: with mode=status
  type: dict
"""
