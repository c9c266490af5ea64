# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Settings of a deploy component as its role would hand them to the engine:
the role's defaults file (Jinja references resolved, inventory_hostname=demo)
without the prefix. Shared by the unit tests of the components and the engine."""

from __future__ import annotations

import os
import re

import yaml

ROLES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "roles")
# {{ var }}, or {{ var | default('literal') }} for another role's variable (the literal here).
JINJA = re.compile(r"\{\{\s*(\w+)\s*(\|\s*default\('([^']*)'\)\s*)?\}\}")
INVENTORY_HOSTNAME = "demo"
_DEFAULTS = {}


def role_defaults(role):
    """The role's defaults file, its Jinja references ({{ var }}) resolved."""
    if role not in _DEFAULTS:
        with open(os.path.join(ROLES_DIR, role, "defaults", "main.yml"), "rb") as handle:
            raw = yaml.safe_load(handle)
        context = dict(raw, inventory_hostname=INVENTORY_HOSTNAME)

        def resolve(value):
            if isinstance(value, str):
                for _round in range(10):
                    if not JINJA.search(value):
                        break
                    value = JINJA.sub(lambda m: str(resolve(context[m.group(1)] if not m.group(2)
                                                            else context.get(m.group(1), m.group(3)))), value)
                assert not JINJA.search(value), "unresolved Jinja in %s defaults: %s" % (role, value)
                return value
            if isinstance(value, list):
                return [resolve(v) for v in value]
            if isinstance(value, dict):
                return {k: resolve(v) for k, v in value.items()}
            return value

        _DEFAULTS[role] = {name: resolve(value) for name, value in raw.items()}
    return _DEFAULTS[role]


def settings_for(role, **overrides):
    """Full settings of a component (role variables without the prefix), with overrides."""
    prefix = role + "_"
    values = {name[len(prefix):]: value for name, value in role_defaults(role).items()}
    values.update(image="registry.example/%s:1.0" % role.replace("_", "-"), wait=False)
    unknown = set(overrides) - set(values)
    assert not unknown, "not variables of %s: %s" % (role, sorted(unknown))
    values.update(overrides)
    return values
