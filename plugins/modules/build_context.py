#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: build_context
short_description: Make a directory exactly a container build context, in one call
version_added: 1.0.0
description:
  - Writes rendered files and hard-links large inputs into a directory in one module call, where one
    M(ansible.builtin.copy) per file and one M(ansible.builtin.file) per directory would each be a module
    execution of their own.
  - Compares what is wanted with what is on disk first (content and mode of each file, the inode of each
    link) and changes only what differs, so a second run with the same input reports no change and rewrites
    nothing.
  - Every path is relative to O(dest); an absolute path or one with a C(..) component is refused with a
    message naming the item, before anything is written.
  - The role C(remotedev.jupyter.image) writes its build contexts with it.
author:
  - remotedev.jupyter maintainers (!UNKNOWN)
options:
  dest:
    description:
      - The context directory.
      - Created with mode C(0755) when missing, its missing parents too. An existing O(dest) keeps its mode.
    type: path
    required: true
  files:
    description:
      - Files to write. Each is written atomically (a temporary file in the same directory, renamed into
        place) with its O(files[].mode); the directories above it are created with mode C(0755).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Path of the file, relative to O(dest).
        type: str
        required: true
      content:
        description: The content, written as UTF-8.
        type: str
        required: true
      mode:
        description:
          - The file's mode as an octal string such as V("0644") or V("0755").
          - An integer is taken as the mode itself, as M(ansible.builtin.file) takes it (YAML's unquoted
            C(0644) arrives as the integer 420).
        type: raw
        default: "0644"
  links:
    description:
      - Files or directories to hard-link into the context, as C(cp --archive --link) does - a directory
        recursively (each directory created with its source's mode and times), every file and symbolic link
        in it as a hard link to the source's.
      - Where the file system refuses a hard link (another file system, for example), the file is copied
        with its mode and times instead.
      - A linked file counts as up to date when it is the source's inode or, after such a copy, has the
        source's size, mode and modification time.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Path in the context, relative to O(dest).
        type: str
        required: true
      source:
        description: Absolute path of the file or directory to link. A symbolic link is linked as such, not followed.
        type: path
        required: true
  exclusive:
    description:
      - Remove everything under O(dest) that is not in O(files) or O(links) (or a directory above them), so
        that nothing stale can end up in the context.
      - Without it other paths are left alone, except what is below a directory that has to become a file or
        a link.
    type: bool
    default: false
extends_documentation_fragment:
  - remotedev.jupyter._attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - One diff per file written or changed and per path removed, with the mode in the headers. Linked
        inputs and directories have none; contents larger than 104448 bytes (Ansible's default
        C(max_file_size_for_diff)) or not UTF-8 text are described instead of shown.
  idempotent:
    support: full
  platform:
    support: full
notes:
  - Owner and group are not managed - new files and directories belong to the user the module runs as, hard
    links share their source's.
  - Directories the module creates for O(files) get mode C(0755); a directory that is already there with
    another mode is changed to C(0755).
seealso:
  - module: ansible.builtin.copy
  - module: ansible.builtin.file
"""

EXAMPLES = r"""
- name: Write a build context, linking the wheels instead of copying them
  remotedev.jupyter.build_context:
    dest: /var/cache/build/context
    exclusive: true
    files:
      - path: Containerfile
        content: |
          FROM debian:12
          COPY wheels/ /wheels/
      - path: bin/healthcheck
        content: "{{ lookup('ansible.builtin.file', 'healthcheck') }}"
        mode: "0755"
    links:
      - path: wheels
        source: /var/cache/wheelhouse/server
  register: context

- name: Show what changed
  ansible.builtin.debug:
    msg: "created {{ context.created }}, updated {{ context.updated }}, removed {{ context.removed }}"
"""

RETURN = r"""
created:
  description:
    - Paths (relative to O(dest)) that did not exist and were created, files, directories and links alike;
      C(.) when O(dest) itself was created.
    - In check mode, what would be created.
  returned: success
  type: list
  elements: str
  sample: [Containerfile, bin, bin/healthcheck, wheels, wheels/six-1.17.0-py2.py3-none-any.whl]
updated:
  description: Paths that existed with another content, mode, kind or inode and were replaced or changed.
  returned: success
  type: list
  elements: str
  sample: [Containerfile]
removed:
  description:
    - Paths removed, each directory once for everything under it - what O(exclusive) removed, or what was in the
      way of a file or link.
  returned: success
  type: list
  elements: str
  sample: [stale.txt, old-wheels]
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.remotedev.jupyter.plugins.module_utils._build_context import (
    ContextError,
    apply_plan,
    check_items,
    diffs,
    make_dest,
    make_plan,
    reader,
    scan,
    scan_sources,
    wanted_tree,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type="path", required=True),
            files=dict(type="list", elements="dict", default=[], options=dict(
                path=dict(type="str", required=True),
                content=dict(type="str", required=True),
                mode=dict(type="raw", default="0644"),
            )),
            links=dict(type="list", elements="dict", default=[], options=dict(
                path=dict(type="str", required=True),
                source=dict(type="path", required=True),
            )),
            exclusive=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    dest = module.params["dest"]
    if os.path.lexists(dest) and not os.path.isdir(dest):
        module.fail_json(msg="dest: %s exists and is not a directory" % dest)
    if module.params["exclusive"] and os.path.realpath(dest) == "/":
        module.fail_json(msg="dest: exclusive would remove everything but the context from /")

    try:
        files, links = check_items(module.params["files"], module.params["links"])
        wanted = wanted_tree(files, links, scan_sources(links))
    except ContextError as exc:
        module.fail_json(msg=str(exc))
    dest_missing = not os.path.isdir(dest)
    current = {} if dest_missing else scan(dest)
    read = reader(dest)
    plan = make_plan(wanted, current, module.params["exclusive"], read)

    result = dict(
        changed=dest_missing or plan.changed,
        created=(["."] if dest_missing else []) + plan.created,
        updated=plan.updated,
        removed=plan.removed,
    )
    if module._diff:
        result["diff"] = diffs(plan, wanted, current, read)
    if result["changed"] and not module.check_mode:
        try:
            if dest_missing:
                make_dest(dest)
            apply_plan(dest, plan, wanted, current)
        except (ContextError, OSError) as exc:
            module.fail_json(msg="cannot write the context: %s" % exc, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
