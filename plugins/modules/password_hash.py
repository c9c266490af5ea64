#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: password_hash
short_description: Hash a password for Jupyter Server or code-server
version_added: 1.0.0
description:
  - Makes a salted password hash in the form Jupyter Server
    (C(PasswordIdentityProvider.hashed_password)) or code-server (C(hashed-password)) verifies.
  - "Jupyter form: C(argon2:$argon2id$...) with Jupyter Server's own cost parameters
    (memory 10 MiB, 10 passes, 8 lanes), or the legacy C(sha1:<salt>:<hex digest>)."
  - "code-server form: a bare C($argon2id$...) string with the defaults of the npm C(argon2)
    package code-server uses (64 MiB, 3 passes, 4 lanes)."
  - Idempotent when given the hash from the previous run in O(existing_hash) - if it verifies
    against O(password) and has the requested form, it is returned unchanged with C(changed=false),
    so the Secret holding it does not change and pods are not restarted.
  - The module only computes; it changes nothing on the target.
author:
  - remotedev.jupyter maintainers (!UNKNOWN)
requirements:
  - argon2-cffi >= 23.1.0 (for O(algorithm=argon2))
notes:
  - The returned hash is a secret - code-server uses it as the value of its session cookie, and a
    Jupyter hash allows offline guessing. Put C(no_log) on the task.
options:
  password:
    description:
      - The password to hash. Must be a non-empty string; anything else (a number, a mapping) is refused, never
        turned into its text form.
    type: raw
    required: true
  format:
    description:
      - C(jupyter) for Jupyter Server (C(PasswordIdentityProvider.hashed_password)).
      - C(code_server) for code-server's C(hashed-password) setting or C(HASHED_PASSWORD) variable.
    type: str
    choices: [jupyter, code_server]
    default: jupyter
  algorithm:
    description:
      - C(argon2) (argon2id) is the default and the only choice for O(format=code_server).
      - C(sha1) is the legacy Jupyter form (a single salted SHA-1, cheap to brute-force), kept for
        old servers only; the module warns when it is used.
    type: str
    choices: [argon2, sha1]
    default: argon2
  existing_hash:
    description:
      - The current hash (for example read back from the Kubernetes Secret).
      - When it verifies against O(password) and is of the requested O(format) and O(algorithm),
        it is returned unchanged and C(changed=false). Otherwise a new hash is made.
      - An argon2 hash whose cost is absurd (memory above 640 MiB, more than 100 passes or 80 lanes) is
        refused before it is verified.
    type: raw
extends_documentation_fragment:
  - remotedev.jupyter._attributes
  - remotedev.jupyter._attributes.actiongroup_jupyter
attributes:
  check_mode:
    support: full
    details:
      - The hash is computed in check mode too; the module changes nothing either way.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details:
      - Idempotent when the previous hash is passed in O(existing_hash); without it every run makes a new salt.
  platform:
    support: full
  action_group:
    support: full
seealso:
  - module: remotedev.jupyter.server_config
"""

EXAMPLES = r"""
- name: Read the current Jupyter password hash from its Secret
  kubernetes.core.k8s_info:
    kind: Secret
    namespace: jupyter
    name: jupyter-server-password
  register: jupyter_password_secret
  no_log: true

- name: Hash the Jupyter password, keeping the old hash when the password did not change
  remotedev.jupyter.password_hash:
    password: "{{ vault_jupyter_password }}"
    existing_hash: "{{ (jupyter_password_secret.resources[0].data.hashed_password | default('') | b64decode) or omit }}"
  register: jupyter_password
  no_log: true

- name: Hash the code-server password
  remotedev.jupyter.password_hash:
    password: "{{ vault_code_server_password }}"
    format: code_server
  register: code_server_password
  no_log: true

- name: Legacy sha1 hash for an old notebook server
  remotedev.jupyter.password_hash:
    password: "{{ vault_jupyter_password }}"
    algorithm: sha1
  no_log: true
"""

RETURN = r"""
hash:
  description:
    - The hash, for O(format=jupyter) prefixed with its algorithm (C(argon2:) or C(sha1:)).
    - Equal to O(existing_hash) when that was kept.
  returned: success
  type: str
  sample: "argon2:$argon2id$v=19$m=10240,t=10,p=8$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
format:
  description: The format of RV(hash).
  returned: success
  type: str
  sample: jupyter
algorithm:
  description: The algorithm of RV(hash).
  returned: success
  type: str
  sample: argon2
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.remotedev.jupyter.plugins.module_utils._password import (
    ARGON2_IMPORT_ERROR,
    HAS_ARGON2,
    PasswordHashError,
    hash_password,
)

# What Ansible shows in place of a no_log argument.
NO_LOG_PLACEHOLDER = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def main():
    module = AnsibleModule(
        argument_spec=dict(
            # raw, not str: a mapping or a number is refused, never hashed as its repr.
            password=dict(type="raw", required=True, no_log=True),
            format=dict(type="str", default="jupyter", choices=["jupyter", "code_server"]),
            algorithm=dict(type="str", default="argon2", choices=["argon2", "sha1"]),
            existing_hash=dict(type="raw", no_log=True),
        ),
        supports_check_mode=True,
    )
    hash_format = module.params["format"]
    algorithm = module.params["algorithm"]

    if algorithm == "argon2" and not HAS_ARGON2:
        module.fail_json(msg=missing_required_lib("argon2-cffi"), exception=ARGON2_IMPORT_ERROR)

    try:
        hashed, changed, note = hash_password(
            module.params["password"], hash_format, algorithm, module.params["existing_hash"]
        )
    except PasswordHashError as exc:
        module.fail_json(msg=str(exc))

    if note:
        module.warn(note)
    if algorithm == "sha1":
        module.warn("algorithm=sha1 is a legacy, fast hash: use argon2 unless an old server needs sha1")

    # Ansible replaces every occurrence of a no_log value in a module's result
    # with asterisks: with the password "a", both "argon2" and the hash itself
    # came back corrupted, and a corrupted hash stored in a Secret locks the
    # user out. The result is built from the hash, format and algorithm only,
    # never from the password, so the module masks the echoed arguments itself
    # and nothing in the result is rewritten.
    module.no_log_values.clear()
    result = dict(
        changed=changed, hash=hashed, format=hash_format, algorithm=algorithm,
        invocation={"module_args": dict(module.params, password=NO_LOG_PLACEHOLDER,
                                        existing_hash=NO_LOG_PLACEHOLDER if module.params["existing_hash"] else None)},
    )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
