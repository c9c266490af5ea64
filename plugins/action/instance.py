# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of remotedev.jupyter.instance: runs the deploy engine on the
controller, in the worker process, with the role's variables.

The variables are the ones the component's role documents in its
meta/argument_specs.yml (every entry point), read from the task's variables
and type-checked against that same spec, so the role's documentation is the
engine's schema and no variable can be dropped silently."""

from __future__ import annotations

import os
import subprocess

import yaml

from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.remotedev.jupyter.plugins.module_utils._deploy_engine import (
    COMPONENTS,
    Engine,
    EngineError,
    InvalidSettings,
    component_for,
    run_all,
)

# libyaml's loader where PyYAML has it: ten times faster on a 400-line spec.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
ROLES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "roles")
SPEC_KEYS = ("type", "elements", "choices", "options", "no_log")
_SPECS = {}


def role_spec(component):
    """{variable: argument spec} of every entry point of the component's role."""
    if component not in _SPECS:
        path = os.path.join(ROLES_DIR, component, "meta", "argument_specs.yml")
        try:
            with open(path, "rb") as handle:
                entry_points = yaml.load(handle, Loader=SAFE_LOADER)["argument_specs"]
        except (OSError, KeyError, yaml.YAMLError) as exc:
            raise AnsibleError("cannot read the argument specs of role %s at %s: %s" % (component, path, exc))
        spec = {}
        for entry in entry_points.values():
            for name, option in (entry.get("options") or {}).items():
                spec[name] = {k: v for k, v in option.items() if k in SPEC_KEYS}
                spec[name]["_default"] = option.get("default")
        _SPECS[component] = spec
    return _SPECS[component]


def plain(value):
    """Plain Python data: Ansible's own str/dict/list subclasses (tagged or
    unsafe values) become str/dict/list, so the engine sees what the API will."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [plain(v) for v in value]
    return value


def run_command(argv, env):
    """For kubeconfig exec credential plugins (aws eks get-token, ...): their stdout."""
    try:
        return subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True,
                              timeout=60).stdout
    except subprocess.CalledProcessError as exc:
        raise OSError("exit code %s: %s" % (exc.returncode, exc.stderr.decode("utf-8", "replace").strip()[-500:]))
    except subprocess.SubprocessError as exc:
        raise OSError(str(exc))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("component", "mode"))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        args = dict(self._task.args)
        component = args.get("component")
        mode = args.get("mode", "converge")
        if component not in COMPONENTS:
            return dict(result, failed=True, msg="component must be one of %s, got %r"
                        % (", ".join(sorted(COMPONENTS)), component))
        if mode not in ("converge", "status", "validate"):
            return dict(result, failed=True, msg="mode must be converge, status or validate, got %r" % (mode,))

        values, errors = self.settings(component, task_vars)
        if errors:
            return dict(result, failed=True, msg="; ".join(errors) + ". Nothing was changed.")
        prefix_len = len(component) + 1
        short = {name[prefix_len:]: value for name, value in values.items()}
        check_mode, diff = bool(self._play_context.check_mode), bool(self._play_context.diff)

        def engine_for(instance):
            return Engine(instance, check_mode=check_mode, diff=diff, run_command=run_command)

        try:
            instance = component_for(component, short)
            if mode == "status":
                outcome = engine_for(instance).status()
            elif mode == "validate":
                outcome = engine_for(instance).validate()
            else:
                # code_server_users: one code-server per user, after the shared one.
                outcome = run_all([instance] + list(getattr(instance, "user_instances", list)()), engine_for)
        except (InvalidSettings, EngineError) as exc:
            return dict(result, failed=True, changed=getattr(exc, "changed", False), msg=str(exc))
        result.update(outcome)
        if "connection" in outcome:
            result["ansible_facts"] = {component + "_connection": outcome["connection"]}
        return result

    def settings(self, component, task_vars):
        """The role's variables, templated and checked against its argument spec."""
        spec = role_spec(component)
        raw = {}
        for name, option in spec.items():
            raw[name] = task_vars[name] if name in task_vars else option["_default"]
        values = self._templar.template(raw)
        checked = ArgumentSpecValidator({k: {x: y for x, y in v.items() if x != "_default"}
                                         for k, v in spec.items()}).validate(values)
        errors = [str(error) for error in checked.errors]
        return plain(checked.validated_parameters), errors
