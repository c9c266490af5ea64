#!/usr/bin/env python
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Generate plugins/module_utils/_server_config_schema.py from jupyter_server.

The server_config module validates class and trait names and value types
against the configurable traits of a pinned jupyter_server, without needing
jupyter_server on the host that runs the module. This script introspects the
installed jupyter_server (and the packages whose classes a Jupyter Server
process configures: jupyter_client, jupyter_events, jupyter_server_terminals,
nbformat's notary) and writes the result as a Python dict literal, because
Ansible ships module_utils Python files with a module but no data files.

Usage (from the repository root, with the project venv):

    .venv/bin/python scripts/generate_server_config_schema.py          # write
    .venv/bin/python scripts/generate_server_config_schema.py --check  # diff only

Bump the pin in requirements-dev.txt, rerun, review the diff, run the tests.
"""

import argparse
import importlib
import math
import os
import pkgutil
import re
import sys
import warnings

OUTPUT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "plugins", "module_utils", "_server_config_schema.py",
)

# Packages whose Configurable classes a `jupyter server` process instantiates.
PACKAGES = (
    "jupyter_server",
    "jupyter_client",
    "jupyter_events",
    "jupyter_server_terminals",
    "nbformat",
    "jupyter_core",
)

# Applications that are command-line subcommands, not parts of a running
# server: config for them in jupyter_server_config.py would be dead.
APPLICATIONS_KEPT = {"Application", "JupyterApp", "ServerApp", "ExtensionApp", "TerminalsExtensionApp"}
# Mixins of the console applications (jupyter console, qtconsole).
CLIENT_SIDE = {"IPythonConsoleApp", "JupyterConsoleApp"}

HEADER = '''\
# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# GENERATED FILE, DO NOT EDIT: scripts/generate_server_config_schema.py writes it
# from the pinned jupyter_server (requirements-dev.txt).
"""Configurable classes and traits of jupyter_server {version}.

CLASSES maps a class name (as used in a Jupyter config file: c.ServerApp.port)
to its configurable traits, inherited ones included. Each trait maps to a type
descriptor:

- kind: any, bool, int, float, str, bytes, enum, list, set, tuple, dict,
  union, type (an importable class name) or unsupported (cannot be given as
  plain data, e.g. Callable, Instance of a non-data class).
- none: True when None is accepted.
- min/max (int, float), minlen/maxlen (list, set), values/caseless (enum),
  pattern (str: identifier or dotted), item/items (containers),
  key/value/per_key (dict), types (union), klass (type), takes (unsupported).
  (DEPRECATED lists the traits jupyter_server marks deprecated.)
"""

from __future__ import annotations

JUPYTER_SERVER_VERSION = {version!r}

'''


def import_all(package_name):
    """Import every submodule so that every Configurable subclass exists."""
    package = importlib.import_module(package_name)
    for info in pkgutil.walk_packages(package.__path__, package_name + "."):
        leaf = info.name.rsplit(".", 1)[-1]
        if "test" in info.name or leaf in ("__main__", "command", "troubleshoot", "pytest_plugin"):
            continue
        try:
            importlib.import_module(info.name)
        except Exception as exc:  # optional dependencies of optional parts
            print("skipped %s (%s: %s)" % (info.name, type(exc).__name__, exc), file=sys.stderr)


def all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from all_subclasses(sub)


def server_classes():
    from jupyter_client.client import KernelClient
    from traitlets.config import Application, Configurable

    for name in PACKAGES:
        import_all(name)
    found = {}
    for cls in all_subclasses(Configurable):
        if cls.__module__.split(".")[0] not in PACKAGES + ("traitlets",):
            continue
        if issubclass(cls, Application) and cls.__name__ not in APPLICATIONS_KEPT:
            continue
        if issubclass(cls, KernelClient) and not cls.__module__.startswith("jupyter_server"):
            continue
        if cls.__name__ in CLIENT_SIDE or not cls.class_traits(config=True):
            continue
        found.setdefault(cls.__name__, []).append(cls)
    return found


def qualified_name(klass):
    if isinstance(klass, str):
        return klass
    return "%s.%s" % (klass.__module__, klass.__qualname__)


def finite(number):
    return number is not None and not (isinstance(number, float) and math.isinf(number))


def enum_values(values):
    # Some come from hashlib's unordered sets: sort for a stable file.
    return sorted(values, key=lambda v: (type(v).__name__, str(v)))


def describe(trait):
    desc = _describe(trait)
    if getattr(trait, "allow_none", False) and desc["kind"] != "any":
        desc["none"] = True
    return desc


DEPRECATION_TARGET = re.compile(r"\b[Uu]se `?([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?)`?")


def same_values(old, new):
    """Descriptors equal apart from None (a deprecated alias allows None = unset)."""
    def strip(desc):
        return {k: v for k, v in desc.items() if k != "none"}

    return strip(old) == strip(new)


def deprecation(class_name, trait):
    """None if trait is current, else (replacement "Class.trait" or "")."""
    help_text = trait.help or ""
    if "deprecat" not in help_text.lower():
        return None
    match = DEPRECATION_TARGET.search(help_text, help_text.lower().index("deprecat"))
    if not match:
        return ""
    target = match.group(1)
    return target if "." in target else "%s.%s" % (class_name, target)


def _describe(trait):
    import traitlets as tl

    try:
        from jupyter_events.traits import Handlers
    except ImportError:  # pragma: no cover
        Handlers = ()

    if isinstance(trait, tl.Union):
        return {"kind": "union", "types": [describe(t) for t in trait.trait_types]}
    if isinstance(trait, tl.FuzzyEnum):
        return {"kind": "enum", "values": enum_values(trait.values), "caseless": not trait.case_sensitive,
                "fuzzy": True}
    if isinstance(trait, tl.CaselessStrEnum):
        return {"kind": "enum", "values": enum_values(trait.values), "caseless": True}
    if isinstance(trait, tl.UseEnum):
        return {"kind": "enum", "values": [m.name for m in trait.enum_class]}
    if isinstance(trait, tl.Enum):
        return {"kind": "enum", "values": enum_values(trait.values)}
    if isinstance(trait, tl.Bool):
        return {"kind": "bool"}
    if isinstance(trait, tl.Int):
        desc = {"kind": "int"}
        for bound in ("min", "max"):
            if finite(getattr(trait, bound, None)):
                desc[bound] = getattr(trait, bound)
        return desc
    if isinstance(trait, tl.Float):
        desc = {"kind": "float"}
        for bound in ("min", "max"):
            if finite(getattr(trait, bound, None)):
                desc[bound] = getattr(trait, bound)
        return desc
    if isinstance(trait, tl.Bytes):
        return {"kind": "bytes"}
    if isinstance(trait, tl.DottedObjectName):
        return {"kind": "str", "pattern": "dotted"}
    if isinstance(trait, tl.ObjectName):
        return {"kind": "str", "pattern": "identifier"}
    if isinstance(trait, tl.Unicode):
        return {"kind": "str"}
    if isinstance(trait, tl.TCPAddress):
        return {"kind": "tuple", "items": [{"kind": "str"}, {"kind": "int", "min": 0, "max": 65535}]}
    if isinstance(trait, tl.Tuple):
        return {"kind": "tuple", "items": [describe(t) for t in trait._traits]} if trait._traits else {"kind": "tuple"}
    if Handlers and isinstance(trait, Handlers):
        return {"kind": "unsupported", "takes": "a list of logging.Handler instances"}
    if isinstance(trait, (tl.List, tl.Set)):
        desc = {"kind": "list" if isinstance(trait, tl.List) else "set"}
        if trait._trait is not None:
            desc["item"] = describe(trait._trait)
        if trait._minlen:
            desc["minlen"] = trait._minlen
        if trait._maxlen != sys.maxsize:
            desc["maxlen"] = trait._maxlen
        return desc
    if isinstance(trait, tl.Dict):
        desc = {"kind": "dict"}
        if trait._key_trait is not None:
            desc["key"] = describe(trait._key_trait)
        if trait._value_trait is not None:
            desc["value"] = describe(trait._value_trait)
        if trait._per_key_traits:
            desc["per_key"] = {k: describe(v) for k, v in trait._per_key_traits.items()}
        return desc
    if isinstance(trait, tl.Type):
        return {"kind": "type", "klass": qualified_name(trait.klass)}
    if isinstance(trait, tl.Instance):
        builtin = {dict: "dict", list: "list", set: "set", tuple: "tuple", str: "str", int: "int", float: "float",
                   bool: "bool"}
        if trait.klass in builtin:
            return {"kind": builtin[trait.klass]}
        return {"kind": "unsupported", "takes": "an instance of " + qualified_name(trait.klass)}
    if isinstance(trait, tl.Callable):
        return {"kind": "unsupported", "takes": "a Python callable"}
    if isinstance(trait, tl.Any):
        return {"kind": "any"}
    raise NotImplementedError(
        "no schema mapping for trait type %s.%s: extend _describe()" % (type(trait).__module__, type(trait).__name__)
    )


def build_schema():
    warnings.simplefilter("ignore")
    classes = {}
    deprecated = {}
    for name, variants in sorted(server_classes().items()):
        traits = {}
        for cls in variants:
            for trait_name, trait in sorted(cls.class_traits(config=True).items()):
                desc = describe(trait)
                if trait_name in traits and traits[trait_name] != desc:
                    raise SystemExit(
                        "classes named %s disagree about trait %s: %r vs %r"
                        % (name, trait_name, traits[trait_name], desc)
                    )
                traits[trait_name] = desc
                target = deprecation(name, trait)
                if target is not None:
                    deprecated["%s.%s" % (name, trait_name)] = target
        classes[name] = traits
    # A replacement is only a rename when the new trait exists and takes the
    # same values; otherwise the module warns without rewriting.
    for old, new in deprecated.items():
        if not new:
            continue
        old_class, old_trait = old.split(".")
        new_class, new_trait = new.split(".")
        new_desc = classes.get(new_class, {}).get(new_trait)
        if new_desc is None or not same_values(classes[old_class][old_trait], new_desc):
            print("%s: replacement %s missing or of another type; warn only" % (old, new), file=sys.stderr)
            deprecated[old] = ""
    return classes, deprecated


def literal(value, indent=0, width=110):
    """value as a Python literal: inline when it fits, else one item per line (pep8-clean)."""
    inline = _inline(value)
    if len(inline) + indent <= width or not isinstance(value, (dict, list)) or not value:
        return inline
    pad = " " * (indent + 4)
    if isinstance(value, dict):
        items = ["%s%r: %s," % (pad, key, literal(value[key], indent + 4, width)) for key in sorted(value)]
        return "{\n%s\n%s}" % ("\n".join(items), " " * indent)
    items = ["%s%s," % (pad, literal(item, indent + 4, width)) for item in value]
    return "[\n%s\n%s]" % ("\n".join(items), " " * indent)


def _inline(value):
    if isinstance(value, dict):
        return "{%s}" % ", ".join("%r: %s" % (key, _inline(value[key])) for key in sorted(value))
    if isinstance(value, list):
        return "[%s]" % ", ".join(_inline(item) for item in value)
    return repr(value)


def render(classes, deprecated, version):
    classes_text = literal(classes)
    deprecated_text = literal(deprecated)
    return (
        HEADER.format(version=version)
        + "# Deprecated traits: \"Class.trait\" -> the \"Class.trait\" that replaces it, or\n"
        + "# \"\" when there is no drop-in replacement (the module warns only).\n"
        + "DEPRECATED = " + deprecated_text + "\n\n"
        + "CLASSES = " + classes_text + "\n"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is not up to date")
    parser.add_argument("--output", default=OUTPUT)
    args = parser.parse_args(argv)

    import jupyter_server

    classes, deprecated = build_schema()
    text = render(classes, deprecated, jupyter_server.__version__)
    try:
        with open(args.output, encoding="utf-8") as handle:
            current = handle.read()
    except FileNotFoundError:
        current = None
    if args.check:
        if current != text:
            print("%s is out of date: run %s" % (args.output, sys.argv[0]), file=sys.stderr)
            return 1
        print("%s is up to date (jupyter_server %s)" % (args.output, jupyter_server.__version__))
        return 0
    if current != text:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
        print("wrote %s (jupyter_server %s)" % (args.output, jupyter_server.__version__))
    else:
        print("%s already up to date" % args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
