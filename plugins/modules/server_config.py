#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: server_config
short_description: Render a validated Jupyter Server configuration file
version_added: 1.0.0
description:
  - Renders C(jupyter_server_config.py) (or C(.json)) from structured settings - a mapping of
    configurable class to trait to value, as in C(c.ServerApp.port = 8888).
  - Every class name, trait name and value type is checked against the traits of jupyter_server 2.21.1
    (a schema shipped with the collection), so jupyter_server is not needed where the module runs.
    Errors name the offending setting, and nothing is written.
  - Deprecated names are rewritten with a warning, for example C(ServerApp.password) to
    C(PasswordIdentityProvider.hashed_password), C(ServerApp.token) to C(IdentityProvider.token),
    C(ServerApp.notebook_dir) to C(ServerApp.root_dir) and C(NotebookApp.*) to C(ServerApp.*).
  - Values are written as Python literals generated from their types and the rendered file is parsed
    back and compared with the settings, so no string can change the meaning of the file.
  - Warns about insecure settings (no token and no password, XSRF checks off, C(allow_origin='*'),
    C(allow_root)).
  - Without O(dest) the module only returns the content and its checksum (for a ConfigMap or Secret);
    with O(dest) it writes the file atomically.
author:
  - remotedev.jupyter maintainers (!UNKNOWN)
options:
  settings:
    description:
      - Mapping of configurable class name to a mapping of trait name to value.
      - "Values are checked against the trait types: booleans must be YAML booleans (not C('true')),
        integers must be integers, numbers may be integers or floats, sets and tuples are given as lists,
        class-valued traits (C(*_class)) take an importable class name such as
        C(jupyter_server.services.contents.largefilemanager.AsyncLargeFileManager)."
      - Classes that are not part of jupyter_server (server extensions such as C(LabApp)) must be listed
        in O(extra_classes).
    type: dict
    required: true
  format:
    description:
      - C(py) renders C(jupyter_server_config.py), C(json) renders C(jupyter_server_config.json).
      - In C(json), sets and tuples become lists and only string mapping keys and no bytes values are possible.
    type: str
    choices: [py, json]
    default: py
  dest:
    description:
      - Path of the file to write. Its directory must exist.
      - When omitted nothing is written and the module returns RV(content) only, with C(changed=false).
      - A new file gets mode C(0600) when O(mode) is not given and the settings hold a secret
        (a token, password hash, cookie secret or session key).
    type: path
  backup:
    description:
      - Keep a timestamped copy of O(dest) before changing it.
    type: bool
    default: false
  extra_classes:
    description:
      - Class names that are not in jupyter_server, such as C(LabApp) or C(LanguageServerManager).
        Their traits are written as given, checked only for being plain data.
    type: list
    elements: str
    default: []
  warn_insecure:
    description:
      - Emit a warning for each insecure setting (also returned in RV(insecure_settings)).
      - Set to V(false) for a file that is only part of the configuration, for example when the
        password is set in another file.
    type: bool
    default: true
extends_documentation_fragment:
  - remotedev.jupyter._attributes
  - remotedev.jupyter._attributes.actiongroup_jupyter
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - Secret values are masked in the diff and in RV(content) when O(dest) is set.
  idempotent:
    support: full
  safe_file_operations:
    description: Uses Ansible's strict file operation functions to ensure proper permissions and avoid data corruption.
    support: full
  platform:
    support: full
  action_group:
    support: full
notes:
  - The password hash belongs in a Kubernetes Secret, the rest of the configuration in a ConfigMap - render
    the hash on its own with O(format=json) and mount it into a directory of C(JUPYTER_CONFIG_PATH).
  - Without O(dest), RV(content) holds secret values in clear text; put C(no_log) on such tasks.
seealso:
  - module: remotedev.jupyter.password_hash
  - module: remotedev.jupyter.server_info
  - name: Jupyter Server configuration
    description: All configurable traits of Jupyter Server.
    link: https://jupyter-server.readthedocs.io/en/stable/other/full-config.html
"""

EXAMPLES = r"""
- name: Render the server configuration for a ConfigMap (no secrets in it)
  remotedev.jupyter.server_config:
    settings:
      ServerApp:
        ip: 0.0.0.0
        port: 8888
        base_url: /jupyter/
        root_dir: /home/jovyan/work
        open_browser: false
        trust_xheaders: true
      MappingKernelManager:
        cull_idle_timeout: 3600
        cull_interval: 300
        cull_connected: false
      KernelSpecManager:
        allowed_kernelspecs: [python3]
    warn_insecure: false  # the password comes from the Secret below
  register: jupyter_config

- name: Render the password part for a Secret
  remotedev.jupyter.server_config:
    format: json
    settings:
      PasswordIdentityProvider:
        hashed_password: "{{ jupyter_password.hash }}"
  register: jupyter_password_config
  no_log: true

- name: Write the configuration on a host, with a backup
  remotedev.jupyter.server_config:
    dest: /etc/jupyter/jupyter_server_config.py
    mode: "0644"
    backup: true
    settings:
      ServerApp:
        ip: 127.0.0.1
        port: 8888
      IdentityProvider:
        token: "{{ vault_jupyter_token }}"

- name: Settings for JupyterLab next to the server's own
  remotedev.jupyter.server_config:
    extra_classes: [LabApp]
    settings:
      ServerApp:
        default_url: /lab
      LabApp:
        collaborative: false
"""

RETURN = r"""
content:
  description:
    - The rendered file.
    - When O(dest) is set, secret values are replaced by C(********) here (the file has them).
  returned: success
  type: str
  sample: |
    # Jupyter Server configuration, rendered by remotedev.jupyter.server_config.
    # Do not edit: the next run overwrites it. Validated against jupyter_server 2.21.1.
    c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

    c.ServerApp.ip = '0.0.0.0'
    c.ServerApp.port = 8888
checksum:
  description:
    - SHA-256 (hex) of the rendered file, secrets included. Put it in a pod template annotation to roll
      the pods when the configuration changes.
  returned: success
  type: str
  sample: 3b0f1c0e8a7f4f4f2a6f0c2e5bd1f1a3c2e9f1b7d0c5a4e3b2a1908f7e6d5c4b
migrated:
  description: Deprecated names that were rewritten, as C(Old.name -> New.name).
  returned: success
  type: list
  elements: str
  sample: ["ServerApp.token -> IdentityProvider.token", "ServerApp.notebook_dir -> ServerApp.root_dir"]
insecure_settings:
  description: One message per insecure setting found (warned about unless O(warn_insecure=false)).
  returned: success
  type: list
  elements: str
  sample: ["ServerApp.disable_check_xsrf is true: cross-site request forgery protection is off"]
dest:
  description: The file written.
  returned: when O(dest) is set
  type: str
  sample: /etc/jupyter/jupyter_server_config.py
backup_file:
  description: The backup copy of the previous file.
  returned: when O(backup=true) and the file was changed
  type: str
  sample: /etc/jupyter/jupyter_server_config.py.12345.2026-01-01@12:00:00~
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

from ansible_collections.remotedev.jupyter.plugins.module_utils._server_config import (
    SettingsError,
    checksum,
    insecure_findings,
    parse_content,
    prepare_settings,
    render,
    secret_values,
)

HIDDEN_BEFORE = (
    "(previous content not shown: it is not a file this module wrote, so secret values in it cannot be hidden)\n"
)


def read_current(module, dest):
    """The current content of dest, None if it does not exist; fails on unusable paths."""
    directory = os.path.dirname(dest) or "."
    if not os.path.isdir(directory):
        module.fail_json(msg="dest: directory %s does not exist (or is not a directory)" % directory)
    if not os.access(directory, os.W_OK | os.X_OK):
        module.fail_json(msg="dest: directory %s is not writable" % directory)
    if os.path.isdir(dest):
        module.fail_json(msg="dest: %s is a directory; give the path of the file" % dest)
    if not os.path.lexists(dest):
        return None
    try:
        with open(dest, "rb") as handle:
            return handle.read().decode("utf-8", "surrogateescape")
    except (IOError, OSError) as exc:
        module.fail_json(msg="dest: cannot read %s: %s" % (dest, to_native(exc)))


def write_atomically(module, dest, content, secrets):
    directory = os.path.dirname(dest) or "."
    if secrets and not os.path.exists(dest) and module.params["mode"] is None:
        # Create the file 0600 first: atomic_move keeps an existing file's mode,
        # so the secret is never readable by others, not even for a moment.
        os.close(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".%s." % os.path.basename(dest), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(to_bytes(content, encoding="utf-8"))
        module.atomic_move(tmp, dest, unsafe_writes=module.params["unsafe_writes"])
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            settings=dict(type="dict", required=True),
            format=dict(type="str", default="py", choices=["py", "json"]),
            dest=dict(type="path"),
            backup=dict(type="bool", default=False),
            extra_classes=dict(type="list", elements="str", default=[]),
            warn_insecure=dict(type="bool", default=True),
        ),
        add_file_common_args=True,
        supports_check_mode=True,
    )
    params = module.params
    config_format = params["format"]
    dest = params["dest"]

    try:
        settings, migrated, notes = prepare_settings(params["settings"], params["extra_classes"])
        content = render(settings, config_format)
    except SettingsError as exc:
        module.fail_json(msg=str(exc))

    for name in migrated:
        old, new = name.split(" -> ")
        module.warn("settings.%s is deprecated in jupyter_server 2: written as %s" % (old, new))
    for note in notes:
        module.warn(note)
    findings = insecure_findings(settings)
    if params["warn_insecure"]:
        for finding in findings:
            module.warn("insecure setting: " + finding)

    result = dict(
        changed=False,
        content=content,
        checksum=checksum(content),
        migrated=migrated,
        insecure_settings=findings,
    )
    if dest is None:
        module.exit_json(**result)

    # The file gets the secrets; the task output and the diff get asterisks.
    secrets = secret_values(settings)
    module.no_log_values.update(secrets)
    result["dest"] = dest
    current = read_current(module, dest)
    diff = None
    if module._diff:
        before = current if current is not None else ""
        if current:
            old_settings = parse_content(current, config_format)
            if old_settings is None:
                before = HIDDEN_BEFORE
            else:
                module.no_log_values.update(secret_values(old_settings))
        diff = dict(before_header=dest, after_header=dest, before=before, after=content)

    changed = current != content
    if changed and not module.check_mode:
        if params["backup"] and current is not None:
            result["backup_file"] = module.backup_local(dest)
        write_atomically(module, dest, content, secrets)

    if os.path.exists(dest):
        file_args = module.load_file_common_arguments(params, path=dest)
        changed = module.set_fs_attributes_if_different(file_args, changed)

    result["changed"] = changed
    if diff is not None:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
