# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate, migrate and render Jupyter Server settings (private to this collection).

Settings are plain data: {ClassName: {trait_name: value}}. They are checked
against the schema generated from the pinned jupyter_server
(_server_config_schema.py), deprecated names are rewritten, and the result is
rendered as a jupyter_server_config.py or .json file.

The .py renderer writes every value as a Python literal built here from the
value's type (never by string templating), then parses the rendered file back
and compares it with the input: whatever a string contains (quotes, newlines,
backslashes, triple quotes, NUL, lone surrogates), the file means exactly the
settings, or rendering fails.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import json
import keyword
import math
import re

from ansible_collections.remotedev.jupyter.plugins.module_utils._server_config_schema import (
    CLASSES,
    DEPRECATED,
    JUPYTER_SERVER_VERSION,
)

FORMATS = ("py", "json")

# Notebook 6 (NotebookApp) names that jupyter_server renamed; every other
# NotebookApp.<trait> becomes ServerApp.<trait> when ServerApp has it.
NOTEBOOK_APP_RENAMES = {
    "nbserver_extensions": "jpserver_extensions",
}

# The secret-bearing traits of jupyter_server and jupyter_client (their
# deprecated and NotebookApp aliases included): the one list of the
# collection. server_config writes them (mode 0600) but never echoes them; the
# jupyter_server role refuses them in its plain settings, which become a
# ConfigMap: they belong in the Secret.
SECRET_TRAITS = frozenset((
    "IdentityProvider.token",
    "PasswordIdentityProvider.token",
    "PasswordIdentityProvider.hashed_password",
    "LegacyIdentityProvider.token",
    "LegacyIdentityProvider.hashed_password",
    "ServerApp.token",
    "ServerApp.password",
    "ServerApp.cookie_secret",
    "NotebookApp.token",
    "NotebookApp.password",
    "NotebookApp.cookie_secret",
    "GatewayClient.auth_token",
    "GatewayClient.http_pwd",
    "Session.key",
    "NotebookNotary.secret",
))
# Their trait names: in a class the schema does not know (an extension's, a
# subclass), a trait of one of these names is taken for a secret too.
SECRET_TRAIT_NAMES = frozenset(name.split(".", 1)[1] for name in SECRET_TRAITS)

PY_HEADER = (
    "# Jupyter Server configuration, rendered by remotedev.jupyter.server_config.\n"
    "# Do not edit: the next run overwrites it. Validated against jupyter_server %s.\n"
    "c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)"
)

# Inline rendering up to this width, one element per line beyond it.
LINE_WIDTH = 100

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SettingsError(ValueError):
    """Bad settings; the message names the field (settings.Class.trait...)."""


# ---------------------------------------------------------------- helpers


def _is_secret(trait_name):
    return trait_name in SECRET_TRAIT_NAMES


def is_secret_trait(class_name, trait_name, classes=None):
    """Whether Class.trait holds a secret: listed in SECRET_TRAITS, or, in a
    class jupyter_server does not have, named like one."""
    classes = CLASSES if classes is None else classes
    if "%s.%s" % (class_name, trait_name) in SECRET_TRAITS:
        return True
    return class_name not in classes and class_name != "NotebookApp" and trait_name in SECRET_TRAIT_NAMES


def secret_traits_in(settings, classes=None):
    """The "Class.trait" names of `settings` (as written) that hold secrets."""
    found = []
    for class_name, traits in (settings or {}).items():
        if isinstance(traits, dict):
            named = [trait for trait in traits if isinstance(class_name, str) and isinstance(trait, str)]
            found.extend("%s.%s" % (class_name, trait) for trait in named if is_secret_trait(class_name, trait, classes))
    return sorted(found)


def _show(value, secret):
    """A value for an error message: its type only when it may be a secret."""
    if secret:
        name = _type_name(value)
        return "%s %s (value hidden)" % ("an" if name[0] in "aeiou" else "a", name)
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return "%s %s" % (_type_name(value), text)


def _type_name(value):
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "float", str: "string", list: "list", dict: "mapping",
            tuple: "list", set: "set", bytes: "bytes"}.get(type(value), type(value).__name__)


def _suggest(name, candidates):
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in candidates}
        if name.lower() in lowered:
            close = [lowered[name.lower()]]
    return "; did you mean %s?" % " or ".join(repr(c) for c in close) if close else ""


# ---------------------------------------------------------------- value checks


def expectation(desc):
    """What a trait descriptor accepts, in words."""
    kind = desc["kind"]
    text = _expectation(desc)
    if desc.get("none") and kind != "any":
        text += " or null"
    return text


def _expectation(desc):
    kind = desc["kind"]
    if kind == "any":
        return "any plain value"
    if kind == "bool":
        return "a boolean (true or false)"
    if kind in ("int", "float"):
        noun = "an integer" if kind == "int" else "a number"
        if "min" in desc and "max" in desc:
            return "%s from %s to %s" % (noun, desc["min"], desc["max"])
        if "min" in desc:
            return "%s >= %s" % (noun, desc["min"])
        if "max" in desc:
            return "%s <= %s" % (noun, desc["max"])
        return noun
    if kind == "str":
        return {"identifier": "a Python identifier", "dotted": "a dotted Python name (a.b.c)"}.get(
            desc.get("pattern"), "a string")
    if kind == "bytes":
        return "a string (stored as UTF-8 bytes)"
    if kind == "enum":
        values = ", ".join(repr(v) for v in desc["values"])
        return "one of %s%s" % (values, " (any case)" if desc.get("caseless") else "")
    if kind in ("list", "set"):
        text = "a list"
        if "item" in desc:
            text += " of " + _plural(desc["item"])
        return text
    if kind == "tuple":
        if "items" in desc:
            return "a list of %d items (%s)" % (len(desc["items"]), ", ".join(expectation(d) for d in desc["items"]))
        return "a list"
    if kind == "dict":
        text = "a mapping"
        if "value" in desc:
            text += " with values that are " + _plural(desc["value"])
        return text
    if kind == "union":
        return " or ".join(expectation(d) for d in desc["types"])
    if kind == "type":
        return "an importable class name (package.module.Class, a subclass of %s)" % desc["klass"]
    return "%s (not plain data)" % desc.get("takes", "a Python object")


_PLURALS = {"any": "plain values", "bool": "booleans", "int": "integers", "float": "numbers", "str": "strings"}


def _plural(desc):
    if desc["kind"] in _PLURALS and len(desc) == 1:
        return _PLURALS[desc["kind"]]
    return "items that are " + expectation(desc)


def check_plain(value, where, secret=False):
    """Check value is plain data a config file can hold; return it normalized."""
    if value is None or isinstance(value, (bool, str, bytes)):
        return value
    if isinstance(value, int):
        _check_int_size(value, where)
        return value
    if isinstance(value, float):
        _check_float(value, where)
        return value
    if isinstance(value, list):
        return [check_plain(v, "%s[%d]" % (where, i), secret) for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return tuple(check_plain(v, "%s[%d]" % (where, i), secret) for i, v in enumerate(value))
    if isinstance(value, (set, frozenset)):
        items = [check_plain(v, where, secret) for v in value]
        for item in items:
            _check_hashable(item, where)
        return set(items)
    if isinstance(value, dict):
        return {check_key(k, where, secret): check_plain(v, "%s.%s" % (where, k), secret) for k, v in value.items()}
    raise SettingsError("%s: %s cannot be written to a config file" % (where, _show(value, secret)))


def check_key(key, where, secret=False):
    if key is None or isinstance(key, (bool, str)):
        return key
    if isinstance(key, int):
        _check_int_size(key, where)
        return key
    if isinstance(key, float):
        _check_float(key, where)
        return key
    raise SettingsError("%s: mapping key %s is not a string or number" % (where, _show(key, secret)))


def _check_hashable(item, where):
    try:
        hash(item)
    except TypeError:
        raise SettingsError("%s: a set cannot hold a %s" % (where, _type_name(item))) from None


def _check_int_size(value, where):
    try:
        str(value)
    except ValueError:  # beyond sys.get_int_max_str_digits()
        raise SettingsError("%s: integer too large to write" % where) from None


def _check_float(value, where):
    if math.isnan(value):
        raise SettingsError("%s: NaN is not a usable setting" % where)


def check_value(desc, value, where, secret=False):
    """Return value normalized for the trait described by desc, or raise SettingsError."""
    kind = desc["kind"]
    if value is None:
        if desc.get("none") or kind == "any":
            return None
        raise SettingsError("%s: null is not allowed; expected %s" % (where, expectation(desc)))
    checker = _CHECKERS.get(kind)
    if checker is None:
        raise SettingsError(
            "%s cannot be set from settings: it takes %s, which is not plain data; set it in a "
            "hand-written config file instead" % (where, desc.get("takes", "a %s value" % kind)))
    return checker(desc, value, where, secret)


def _wrong(desc, value, where, secret):
    return SettingsError("%s: expected %s, got %s" % (where, expectation(desc), _show(value, secret)))


def _check_any(desc, value, where, secret):
    return check_plain(value, where, secret)


def _check_bool(desc, value, where, secret):
    if not isinstance(value, bool):
        raise _wrong(desc, value, where, secret)
    return value


def _check_number(desc, value, where, secret):
    types = (int,) if desc["kind"] == "int" else (int, float)
    if isinstance(value, bool) or not isinstance(value, types):
        raise _wrong(desc, value, where, secret)
    if isinstance(value, float):
        _check_float(value, where)
    else:
        _check_int_size(value, where)
    if ("min" in desc and value < desc["min"]) or ("max" in desc and value > desc["max"]):
        raise _wrong(desc, value, where, secret)
    return value


def _check_str(desc, value, where, secret):
    if not isinstance(value, str):
        raise _wrong(desc, value, where, secret)
    pattern = desc.get("pattern")
    if pattern == "identifier" and not value.isidentifier():
        raise _wrong(desc, value, where, secret)
    if pattern == "dotted" and not all(part.isidentifier() for part in value.split(".")):
        raise _wrong(desc, value, where, secret)
    return value


def _check_bytes(desc, value, where, secret):
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise _wrong(desc, value, where, secret)
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise SettingsError("%s: the string cannot be encoded as UTF-8" % where) from None


def _check_enum(desc, value, where, secret):
    for allowed in desc["values"]:
        if type(allowed) is type(value) and allowed == value:
            return value
        if desc.get("caseless") and isinstance(value, str) and isinstance(allowed, str):
            if allowed.lower() == value.lower() or (desc.get("fuzzy") and allowed.lower().startswith(value.lower())):
                return value
    raise _wrong(desc, value, where, secret)


def _check_sequence(desc, value, where, secret):
    kind = desc["kind"]
    if not isinstance(value, (list, tuple, set)) or (isinstance(value, set) and kind != "set"):
        raise _wrong(desc, value, where, secret)
    items = list(value)
    if kind == "tuple" and "items" in desc:
        if len(items) != len(desc["items"]):
            raise _wrong(desc, value, where, secret)
        return tuple(check_value(d, v, "%s[%d]" % (where, i), secret)
                     for i, (d, v) in enumerate(zip(desc["items"], items)))
    if "item" in desc:
        items = [check_value(desc["item"], v, "%s[%d]" % (where, i), secret) for i, v in enumerate(items)]
    else:
        items = [check_plain(v, "%s[%d]" % (where, i), secret) for i, v in enumerate(items)]
    if kind == "set":
        for i, item in enumerate(items):
            _check_hashable(item, "%s[%d]" % (where, i))
        items = set(items)
    if len(items) < desc.get("minlen", 0) or ("maxlen" in desc and len(items) > desc["maxlen"]):
        raise SettingsError("%s: expected %s with %s to %s items, got %d" % (
            where, expectation(desc), desc.get("minlen", 0), desc.get("maxlen", "any number of"), len(items)))
    return tuple(items) if kind == "tuple" else items


def _check_dict(desc, value, where, secret):
    if not isinstance(value, dict):
        raise _wrong(desc, value, where, secret)
    result = {}
    for key, item in value.items():
        if "key" in desc:
            key = check_value(desc["key"], key, "%s key %r" % (where, key), secret)
        else:
            key = check_key(key, where, secret)
        item_where = "%s.%s" % (where, key)
        item_desc = desc.get("per_key", {}).get(key, desc.get("value"))
        result[key] = check_value(item_desc, item, item_where, secret) if item_desc else check_plain(
            item, item_where, secret)
    return result


def _check_union(desc, value, where, secret):
    for member in desc["types"]:
        try:
            return check_value(member, value, where, secret)
        except SettingsError:
            continue
    raise _wrong(desc, value, where, secret)


def _check_type(desc, value, where, secret):
    if not isinstance(value, str) or "." not in value or not all(p.isidentifier() for p in value.split(".")):
        raise _wrong(desc, value, where, secret)
    return value


_CHECKERS = {
    "any": _check_any,
    "bool": _check_bool,
    "int": _check_number,
    "float": _check_number,
    "str": _check_str,
    "bytes": _check_bytes,
    "enum": _check_enum,
    "list": _check_sequence,
    "set": _check_sequence,
    "tuple": _check_sequence,
    "dict": _check_dict,
    "union": _check_union,
    "type": _check_type,
}


# ---------------------------------------------------------------- settings


def _check_name(name, where, what):
    # fullmatch: a trailing newline must not pass (it would end up in the rendered file).
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name) or keyword.iskeyword(name):
        raise SettingsError("%s: %r is not a valid %s name" % (where, name, what))
    # traitlets' Config treats capitalized names as classes and keeps names
    # starting with "__" as Python attributes, not as settings.
    if what == "class" and not name[0].isupper():
        raise SettingsError("%s: %r is not a valid class name (class names start with a capital letter)"
                            % (where, name))
    if what == "trait" and (name[0].isupper() or name.startswith("__")):
        raise SettingsError("%s: %r is not a valid trait name (trait names start with a lower-case letter or a "
                            "single underscore)" % (where, name))


def migrate_settings(settings, classes=None, deprecated=None, origins=None):
    """Rewrite deprecated class/trait names. Returns (settings, migrated, notes).

    migrated lists "Old.name -> New.name" strings; notes are warnings for
    deprecated names that have no drop-in replacement. Raises SettingsError
    when an old name and its replacement are both given with different values.
    origins, when given, is filled with {(class, trait): "Class.trait as written"}.
    """
    classes = CLASSES if classes is None else classes
    deprecated = DEPRECATED if deprecated is None else deprecated
    if not isinstance(settings, dict):
        raise SettingsError("settings: expected a mapping of class names to trait settings, got %s"
                            % _type_name(settings))
    result = {}
    origin = {} if origins is None else origins  # (class, trait) -> the name the user wrote
    migrated = []
    notes = []

    def put(class_name, trait, value, source):
        slot = result.setdefault(class_name, {})
        if trait in slot:
            first = origin[(class_name, trait)]
            if type(slot[trait]) is not type(value) or slot[trait] != value:
                raise SettingsError(
                    "settings.%s and settings.%s both set %s.%s to different values: keep only %s"
                    % (first, source, class_name, trait, "%s.%s" % (class_name, trait)))
            return
        slot[trait] = value
        origin[(class_name, trait)] = source

    for class_name, traits in settings.items():
        _check_name(class_name, "settings", "class")
        if not isinstance(traits, dict):
            raise SettingsError("settings.%s: expected a mapping of trait names to values, got %s"
                                % (class_name, _type_name(traits)))
        # An empty section is still validated (and an unknown class still an error).
        result.setdefault("ServerApp" if class_name == "NotebookApp" else class_name, {})
        for trait, value in traits.items():
            _check_name(trait, "settings.%s" % class_name, "trait")
            source = "%s.%s" % (class_name, trait)
            new_class, new_trait = class_name, trait
            if new_class == "NotebookApp":
                new_class, new_trait = "ServerApp", NOTEBOOK_APP_RENAMES.get(trait, trait)
                if new_trait not in classes.get("ServerApp", {}):
                    raise SettingsError(
                        "settings.NotebookApp.%s: the classic notebook server setting %r has no equivalent "
                        "in jupyter_server's ServerApp" % (trait, trait))
            seen = set()
            while "%s.%s" % (new_class, new_trait) in deprecated:
                name = "%s.%s" % (new_class, new_trait)
                replacement = deprecated[name]
                if not replacement or name in seen:
                    notes.append("settings.%s: %s is deprecated in jupyter_server %s and has no drop-in "
                                 "replacement; it is kept as given" % (source, name, JUPYTER_SERVER_VERSION))
                    break
                seen.add(name)
                new_class, new_trait = replacement.split(".")
            if (new_class, new_trait) != (class_name, trait):
                if value is None:
                    # null is how the deprecated alias says "unset": nothing to carry over.
                    notes.append("settings.%s: deprecated and null, so dropped" % source)
                    continue
                migrated.append("%s -> %s.%s" % (source, new_class, new_trait))
            put(new_class, new_trait, value, source)
    return result, migrated, notes


def validate_settings(settings, extra_classes=(), classes=None, origins=None):
    """Check names and values against the schema. Returns normalized settings.

    origins (from migrate_settings) makes messages name the setting as written.
    """
    classes = CLASSES if classes is None else classes
    extra = set(extra_classes or ())
    origins = origins or {}
    for index, name in enumerate(extra_classes or ()):
        _check_name(name, "extra_classes[%d]" % index, "class")
        if name in classes or name == "NotebookApp":
            raise SettingsError(
                "extra_classes[%d]: %s is a class of jupyter_server %s: listed here its traits would be written "
                "without any check; list only classes of server extensions (LabApp, ...)"
                % (index, name, JUPYTER_SERVER_VERSION))

    def field(class_name, trait):
        name = "%s.%s" % (class_name, trait)
        written = origins.get((class_name, trait), name)
        return "settings." + (written if written == name else "%s (now %s)" % (written, name))

    normalized = {}
    for class_name, traits in settings.items():
        if class_name in extra:
            normalized[class_name] = {
                trait: check_plain(value, field(class_name, trait), _is_secret(trait))
                for trait, value in traits.items()
            }
            continue
        schema = classes.get(class_name)
        if schema is None:
            raise SettingsError(
                "settings.%s: unknown class %r: not a configurable class of jupyter_server %s%s. Settings for "
                "classes of server extensions (LabApp, ...) are accepted when the class is listed in extra_classes."
                % (class_name, class_name, JUPYTER_SERVER_VERSION, _suggest(class_name, classes)))
        normalized[class_name] = {}
        for trait, value in traits.items():
            desc = schema.get(trait)
            where = field(class_name, trait)
            if desc is None:
                raise SettingsError("%s: %s has no configurable trait %r%s" % (
                    where, class_name, trait, _suggest(trait, schema)))
            normalized[class_name][trait] = check_value(trait_descriptor(trait, desc), value, where, _is_secret(trait))
    return normalized


def trait_descriptor(trait, desc):
    """The schema's descriptor, with the range of a TCP port where the trait is
    one (traitlets' Integer has none: 70000 would only fail when the server binds)."""
    if desc.get("kind") == "int" and (trait == "port" or trait.endswith("_port")):
        return dict(desc, min=max(desc.get("min", 0), 0), max=min(desc.get("max", 65535), 65535))
    return desc


def prepare_settings(settings, extra_classes=()):
    """migrate + validate. Returns (normalized settings, migrated, notes)."""
    origins = {}
    migrated_settings, migrated, notes = migrate_settings(settings, origins=origins)
    return validate_settings(migrated_settings, extra_classes, origins=origins), migrated, notes


# ---------------------------------------------------------------- findings


def insecure_findings(settings):
    """Settings that weaken security, as messages (no secret values)."""
    findings = []
    server = settings.get("ServerApp", {})
    token_set = [c for c, traits in settings.items() if traits.get("token") == ""]
    hashed = any(traits.get("hashed_password") for traits in settings.values())
    if token_set and not hashed:
        findings.append(
            "%s.token is '' and no PasswordIdentityProvider.hashed_password is set here: unless a password is "
            "configured in another config file, anyone who can reach the server can run code" % token_set[0])
    if server.get("disable_check_xsrf") is True:
        findings.append("ServerApp.disable_check_xsrf is true: cross-site request forgery protection is off")
    if server.get("allow_origin") == "*":
        findings.append("ServerApp.allow_origin is '*': any web site can make requests to the server "
                        "with the user's credentials")
    if server.get("allow_origin_pat") in (".*", "^.*$", ".+", "^.+$"):
        findings.append("ServerApp.allow_origin_pat matches every origin: any web site can make requests")
    if server.get("allow_root") is True:
        findings.append("ServerApp.allow_root is true: the server and its kernels may run as root")
    for class_name, traits in settings.items():
        value = traits.get("hashed_password")
        if isinstance(value, str) and value.startswith("sha1:"):
            findings.append("%s.hashed_password is a legacy sha1 hash: make an argon2 hash with "
                            "remotedev.jupyter.password_hash" % class_name)
    return findings


def secret_values(settings):
    """The string values of secret traits (to hide them from logs)."""
    found = []
    for traits in settings.values():
        for trait, value in traits.items():
            if _is_secret(trait) and isinstance(value, (str, bytes)) and value:
                text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
                found.append(text)
    return found


def has_secrets(settings):
    return bool(secret_values(settings))


# ---------------------------------------------------------------- rendering: py


def py_literal(value, indent=0):
    """A Python literal for value that evaluates to an equal value of the same type."""
    inline = _py_inline(value)
    if len(inline) + indent <= LINE_WIDTH or not isinstance(value, (list, tuple, set, dict)) or not value:
        return inline
    pad = " " * (indent + 4)
    if isinstance(value, dict):
        lines = ["%s%s: %s," % (pad, _py_inline(k), py_literal(v, indent + 4)) for k, v in _sorted_items(value)]
        return "{\n%s\n%s}" % ("\n".join(lines), " " * indent)
    items = _sorted_set(value) if isinstance(value, set) else list(value)
    lines = ["%s%s," % (pad, py_literal(v, indent + 4)) for v in items]
    opener, closer = {list: "[]", tuple: "()", set: "{}"}[type(value)]
    return "%s\n%s\n%s%s" % (opener, "\n".join(lines), " " * indent, closer)


def _py_inline(value):
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float):
        if math.isinf(value):
            # A literal that overflows to infinity: the file stays data-only.
            return "1e999" if value > 0 else "-1e999"
        return repr(float(value))
    if isinstance(value, str):
        # repr() escapes quotes, backslashes, control characters, surrogates
        # and other non-printable characters; it always yields a literal.
        return repr(str(value))
    if isinstance(value, bytes):
        return repr(bytes(value))
    if isinstance(value, list):
        return "[%s]" % ", ".join(_py_inline(v) for v in value)
    if isinstance(value, tuple):
        if len(value) == 1:
            return "(%s,)" % _py_inline(value[0])
        return "(%s)" % ", ".join(_py_inline(v) for v in value)
    if isinstance(value, set):
        if not value:
            return "set()"
        return "{%s}" % ", ".join(_py_inline(v) for v in _sorted_set(value))
    if isinstance(value, dict):
        return "{%s}" % ", ".join("%s: %s" % (_py_inline(k), _py_inline(v)) for k, v in _sorted_items(value))
    raise SettingsError("cannot render a %s" % type(value).__name__)


def _sorted_items(mapping):
    return sorted(mapping.items(), key=lambda kv: (type(kv[0]).__name__, _py_inline(kv[0])))


def _sorted_set(values):
    return sorted(values, key=lambda v: (type(v).__name__, _py_inline(v)))


def render_py(settings):
    lines = [PY_HEADER % JUPYTER_SERVER_VERSION]
    for class_name in sorted(settings):
        traits = settings[class_name]
        if not traits:
            continue
        lines.append("")
        for trait in sorted(traits):
            prefix = "c.%s.%s = " % (class_name, trait)
            lines.append(prefix + py_literal(traits[trait], 0))
    return "\n".join(lines) + "\n"


class _Literal(ast.NodeVisitor):
    """Evaluate the literal subset render_py writes; anything else is an error."""

    def visit(self, node):
        method = getattr(self, "visit_" + type(node).__name__, None)
        if method is None:
            raise ValueError("not a literal: %s" % type(node).__name__)
        return method(node)

    def visit_Constant(self, node):
        return node.value

    def visit_UnaryOp(self, node):
        operand = self.visit(node.operand)
        if isinstance(node.op, ast.USub) and isinstance(operand, (int, float)) and not isinstance(operand, bool):
            return -operand
        raise ValueError("not a literal: unary operator")

    def visit_List(self, node):
        return [self.visit(e) for e in node.elts]

    def visit_Tuple(self, node):
        return tuple(self.visit(e) for e in node.elts)

    def visit_Set(self, node):
        return set(self.visit(e) for e in node.elts)

    def visit_Dict(self, node):
        if any(k is None for k in node.keys):
            raise ValueError("not a literal: ** in dict")
        return dict((self.visit(k), self.visit(v)) for k, v in zip(node.keys, node.values))

    def visit_Call(self, node):
        if isinstance(node.func, ast.Name) and node.func.id == "set" and not node.args and not node.keywords:
            return set()
        raise ValueError("not a literal: call")


def parse_py(content):
    """Read back a file written by render_py: {class: {trait: value}}.

    Raises ValueError for anything but `c = get_config()` and
    `c.Class.trait = <literal>` statements.
    """
    tree = ast.parse(content)
    settings = {}
    evaluator = _Literal()
    for statement in tree.body:
        if not isinstance(statement, ast.Assign) or len(statement.targets) != 1:
            raise ValueError("line %d: not an assignment" % statement.lineno)
        target = statement.targets[0]
        if isinstance(target, ast.Name) and target.id == "c":
            call = statement.value
            is_get_config = isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "get_config"
            if is_get_config and not call.args and not call.keywords:
                continue
            raise ValueError("line %d: unexpected assignment to c" % statement.lineno)
        class_attr = target.value if isinstance(target, ast.Attribute) else None
        if not (isinstance(class_attr, ast.Attribute) and isinstance(class_attr.value, ast.Name) and class_attr.value.id == "c"):
            raise ValueError("line %d: not an assignment to c.Class.trait" % statement.lineno)
        class_name, trait = target.value.attr, target.attr
        if trait in settings.get(class_name, {}):
            raise ValueError("line %d: %s.%s assigned twice" % (statement.lineno, class_name, trait))
        settings.setdefault(class_name, {})[trait] = evaluator.visit(statement.value)
    return settings


# ---------------------------------------------------------------- rendering: json


def to_json_data(value, where):
    if isinstance(value, bytes):
        raise SettingsError("%s: bytes values cannot be written to a JSON config file; use format=py" % where)
    if isinstance(value, (list, tuple)):
        return [to_json_data(v, "%s[%d]" % (where, i)) for i, v in enumerate(value)]
    if isinstance(value, set):
        return [to_json_data(v, where) for v in _sorted_set(value)]
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise SettingsError("%s: JSON config files only have string keys, got %s key %r; use format=py"
                                    % (where, _type_name(key), key))
            result[key] = to_json_data(item, "%s.%s" % (where, key))
        return result
    return value


def render_json(settings):
    data = {}
    for class_name, traits in settings.items():
        if traits:
            data[class_name] = to_json_data(traits, "settings.%s" % class_name)
    # ASCII-only: any string, lone surrogates included, survives any transport.
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=True) + "\n"


def json_equivalent(value):
    """What a value looks like after a JSON round trip (sets/tuples become lists)."""
    if isinstance(value, (list, tuple)):
        return [json_equivalent(v) for v in value]
    if isinstance(value, set):
        return [json_equivalent(v) for v in _sorted_set(value)]
    if isinstance(value, dict):
        return {k: json_equivalent(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------- entry points


def same(a, b):
    """Equality that also compares types (True is not 1, 1 is not 1.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        if len(a) != len(b):
            return False
        for key, value in a.items():
            match = [k for k in b if same(k, key)]
            if len(match) != 1 or not same(value, b[match[0]]):
                return False
        return True
    if isinstance(a, set):
        return len(a) == len(b) and all(any(same(x, y) for y in b) for x in a)
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def render(settings, config_format="py"):
    """Render normalized settings and prove the file reads back as them."""
    if config_format == "py":
        content = render_py(settings)
        try:
            readback = parse_py(content)
        except SyntaxError:
            # Names are checked before rendering; should one slip through, a clean error, not a traceback.
            raise SettingsError("settings: the rendered file is not valid Python (a class or trait name that is not "
                                "an identifier?)") from None
        expected = {c: t for c, t in settings.items() if t}
    elif config_format == "json":
        content = render_json(settings)
        readback = json.loads(content)
        expected = {c: json_equivalent(t) for c, t in settings.items() if t}
    else:
        raise SettingsError("format must be one of %s, got %r" % (", ".join(FORMATS), config_format))
    if not same(readback, expected):
        # Cannot happen unless a renderer is broken: refuse to write such a file.
        raise SettingsError("internal error: the rendered %s file does not read back as the settings" % config_format)
    return content


def parse_content(content, config_format):
    """Read a config file this module wrote (for hiding its old secrets); None if it cannot."""
    try:
        if config_format == "json":
            data = json.loads(content)
            return data if isinstance(data, dict) and all(isinstance(v, dict) for v in data.values()) else None
        return parse_py(content)
    except (ValueError, SyntaxError, RecursionError, MemoryError):
        return None


def checksum(content):
    return hashlib.sha256(content.encode("utf-8")).hexdigest()
