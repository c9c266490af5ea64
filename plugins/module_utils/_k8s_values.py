# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rules the Kubernetes API server applies to the values the roles pass
through (PRIVATE, no public API): quantities, label keys and values, env var
names, image references, DNS names, tolerations, resources.

Checked here, before the first change, the same way the API server would
check them after half of an instance was applied. Every function is pure and
returns the reason a value is wrong ("" when it is fine), so that the caller
names the variable."""

from __future__ import annotations

import ipaddress
import json
import re
from decimal import Decimal, InvalidOperation

# apimachinery/pkg/api/resource: <signed number><suffix>, suffix binary SI,
# decimal SI or a decimal exponent.
_QUANTITY = re.compile(r"^([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$")
_BINARY = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1), "k": Decimal("1e3"),
            "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"), "P": Decimal("1e15"), "E": Decimal("1e18")}

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
# The classic EnvVar name rule (valid on every Kubernetes version).
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")

# distribution/reference's grammar.
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = r"(?:%s(?:\.%s)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?" % (_DOMAIN_PART, _DOMAIN_PART)
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_IMAGE = re.compile(
    r"^(?P<name>(?:%s/)?%s(?:/%s)*)(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$"
    % (_DOMAIN, _PATH_PART, _PATH_PART))

TOLERATION_KEYS = frozenset(("key", "operator", "value", "effect", "tolerationSeconds"))
TOLERATION_OPERATORS = ("Exists", "Equal")
TOLERATION_EFFECTS = ("", "NoSchedule", "PreferNoSchedule", "NoExecute")
AFFINITY_KEYS = frozenset(("nodeAffinity", "podAffinity", "podAntiAffinity"))
PEER_KEYS = frozenset(("podSelector", "namespaceSelector", "ipBlock"))
ENV_KEYS = frozenset(("name", "value", "valueFrom"))
ENV_SOURCES = frozenset(("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef", "fileKeyRef"))
RESOURCE_SECTIONS = frozenset(("requests", "limits"))


def shown(value):
    """A value for a message, JSON-quoted and cut short."""
    text = json.dumps(value, default=repr)
    return text if len(text) <= 80 else text[:77] + "..."


# ---------------------------------------------------------------- quantities


def parse_quantity(value):
    """A Kubernetes quantity ("10Gi", "250m", "1e3", 3) as a Decimal; ValueError when it is none."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("not a quantity")
    text = str(value).strip() if not isinstance(value, str) else value
    match = _QUANTITY.fullmatch(text)
    if not match:
        raise ValueError("not a quantity")
    sign, number, suffix = match.group(1), match.group(2), match.group(3) or ""
    try:
        amount = Decimal(number)
    except InvalidOperation:  # pragma: no cover - the pattern admits numbers only
        raise ValueError("not a quantity")
    if suffix in _BINARY:
        amount *= _BINARY[suffix]
    elif suffix[:1] in ("e", "E"):
        amount = amount.scaleb(int(suffix[1:]))
    else:
        amount *= _DECIMAL[suffix]
    return -amount if sign == "-" else amount


def quantity_problem(value, positive=True):
    """Why `value` is not a usable quantity ("" when it is)."""
    try:
        amount = parse_quantity(value)
    except ValueError:
        return ("%s is not a Kubernetes quantity (a number with an optional suffix such as Mi, Gi, m, k or M, "
                "e.g. 10Gi or 250m)" % shown(value))
    if positive and amount <= 0:
        return "%s is not above zero" % shown(value)
    if amount < 0:
        return "%s is negative" % shown(value)
    return ""


def resources_problems(resources):
    """Problems of a container's resources: unknown sections, bad quantities, a limit below its request."""
    if not isinstance(resources, dict):
        return ["must be a mapping with requests and limits, got %s" % shown(resources)]
    problems = ["has an unknown key %s (only requests and limits)" % shown(k) for k in resources if k not in RESOURCE_SECTIONS]
    parsed = {}
    for section in ("requests", "limits"):
        entries = resources.get(section) or {}
        if not isinstance(entries, dict):
            problems.append("%s must be a mapping of resource names to quantities, got %s" % (section, shown(entries)))
            continue
        for name, value in entries.items():
            reason = label_key_problem(name)
            if reason:
                problems.append("%s has a resource name that is not valid: %s" % (section, reason))
                continue
            reason = quantity_problem(value, positive=False)
            if reason:
                problems.append("%s.%s: %s" % (section, name, reason))
                continue
            parsed[(section, name)] = parse_quantity(value)
    for (section, name), limit in parsed.items():
        request = parsed.get(("requests", name))
        if section == "limits" and request is not None and limit < request:
            problems.append("limits.%s (%s) is below requests.%s (%s)"
                            % (name, resources["limits"][name], name, resources["requests"][name]))
    return problems


# ---------------------------------------------------------------- names, labels, annotations


def label_key_problem(key):
    """Why `key` is not a qualified name ([prefix/]name) as label and annotation keys must be."""
    if not isinstance(key, str) or not key:
        return "%s is not a label key (a non-empty string)" % shown(key)
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not DNS_SUBDOMAIN.fullmatch(prefix)):
        return "%s: the prefix before '/' must be a DNS subdomain (lower case, at most 253 characters)" % shown(key)
    if len(name) > 63 or not _QUALIFIED_NAME.fullmatch(name):
        return ("%s: the name must be at most 63 characters of letters, digits, '-', '_' and '.', starting and "
                "ending with a letter or digit" % shown(key))
    return ""


def label_value_problem(value):
    """Why `value` is not a label value."""
    if not isinstance(value, str):
        return "%s is not a string (quote it in YAML)" % shown(value)
    if value and (len(value) > 63 or not _QUALIFIED_NAME.fullmatch(value)):
        return ("%s is not a label value: at most 63 characters of letters, digits, '-', '_' and '.', starting "
                "and ending with a letter or digit (or empty)" % shown(value))
    return ""


def labels_problems(labels, values_are_labels=True):
    """Problems of a label map (or, with values_are_labels=False, of an annotation map: any string value)."""
    if not isinstance(labels, dict):
        return ["must be a mapping, got %s" % shown(labels)]
    problems = []
    for key, value in labels.items():
        reason = label_key_problem(key)
        if not reason:
            if values_are_labels:
                reason = label_value_problem(value)
            elif not isinstance(value, str):
                reason = "the value of %s is %s, not a string (quote it in YAML)" % (shown(key), shown(value))
        if reason:
            problems.append(reason)
    return problems


def dns_subdomain_problem(value):
    if not isinstance(value, str) or len(value) > 253 or not DNS_SUBDOMAIN.fullmatch(value):
        return "%s is not a DNS subdomain name (lower-case letters, digits, '-' and '.')" % shown(value)
    return ""


def dns_label_problem(value):
    if not isinstance(value, str) or not DNS_LABEL.fullmatch(value):
        return "%s is not a DNS label (lower-case letters, digits and '-', at most 63 characters)" % shown(value)
    return ""


# ---------------------------------------------------------------- containers


def image_problem(value):
    """Why `value` is not an image reference (host[:port]/path[:tag][@digest])."""
    match = _IMAGE.fullmatch(value) if isinstance(value, str) else None
    if not match or len(match.group("name")) > 255:
        return ("%s is not an image reference ([registry[:port]/]path[:tag][@sha256:digest], lower-case path)"
                % shown(value))
    return ""


def env_problems(items, reserved=()):
    """Problems of a list of Kubernetes EnvVar objects; `reserved` are names the role sets itself."""
    problems = []
    seen = set()
    for index, item in enumerate(items):
        where = "[%d]" % index
        if not isinstance(item, dict):
            problems.append("%s is not a mapping: every item is an EnvVar ({name, value} or {name, valueFrom})" % where)
            continue
        name = item.get("name")
        if not isinstance(name, str) or not name:
            problems.append("%s has no name: every item is a Kubernetes EnvVar ({name, value} or {name, valueFrom})"
                            % where)
            continue
        where = "%s (%s)" % (where, name)
        if not _ENV_NAME.fullmatch(name):
            problems.append("%s: %s is not a valid environment variable name (letters, digits, '_', '-' and '.', "
                            "not starting with a digit)" % (where, shown(name)))
        if name in reserved:
            problems.append("%s: %s is set by the role itself and may not be overridden" % (where, name))
        if name in seen:
            problems.append("%s: %s is given twice" % (where, name))
        seen.add(name)
        unknown = sorted(set(item) - ENV_KEYS)
        if unknown:
            problems.append("%s has unknown keys %s (only name, value, valueFrom)" % (where, ", ".join(unknown)))
        if "value" in item and "valueFrom" in item:
            problems.append("%s has both value and valueFrom" % where)
        if "value" in item and not isinstance(item["value"], str):
            problems.append("%s: value %s is not a string (quote it in YAML)" % (where, shown(item["value"])))
        if "valueFrom" in item:
            source = item["valueFrom"]
            if not isinstance(source, dict) or len(source) != 1 or not set(source) <= ENV_SOURCES:
                problems.append("%s: valueFrom must have exactly one of %s" % (where, ", ".join(sorted(ENV_SOURCES))))
    return problems


def tolerations_problems(tolerations):
    problems = []
    for index, item in enumerate(tolerations):
        where = "[%d]" % index
        if not isinstance(item, dict):
            problems.append("%s is not a mapping" % where)
            continue
        unknown = sorted(set(item) - TOLERATION_KEYS)
        if unknown:
            problems.append("%s has unknown keys %s (only %s)" % (where, ", ".join(unknown), ", ".join(sorted(TOLERATION_KEYS))))
        operator = item.get("operator", "Equal")
        if operator not in TOLERATION_OPERATORS:
            problems.append("%s: operator %s is not Exists or Equal" % (where, shown(operator)))
        if item.get("effect", "") not in TOLERATION_EFFECTS:
            problems.append("%s: effect %s is not NoSchedule, PreferNoSchedule or NoExecute" % (where, shown(item["effect"])))
        if operator == "Exists" and item.get("value"):
            problems.append("%s: operator Exists takes no value" % where)
        if item.get("key") and label_key_problem(item["key"]):
            problems.append("%s: key %s" % (where, label_key_problem(item["key"])))
        seconds = item.get("tolerationSeconds")
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int)):
            problems.append("%s: tolerationSeconds %s is not an integer" % (where, shown(seconds)))
    return problems


def keys_problem(mapping, allowed, what):
    """Why a mapping has keys other than `allowed` ("" when it has none)."""
    if not isinstance(mapping, dict):
        return "%s must be a mapping, got %s" % (what, shown(mapping))
    unknown = sorted(str(k) for k in mapping if k not in allowed)
    if unknown:
        return "%s has unknown keys %s (only %s)" % (what, ", ".join(unknown), ", ".join(sorted(allowed)))
    return ""


def cidr_problem(value):
    """Why `value` is not a CIDR the API server takes (address/prefix length, no host bits)."""
    if not isinstance(value, str) or "/" not in value:
        return "%s is not a CIDR (address/prefix length)" % shown(value)
    try:
        ipaddress.ip_network(value)
    except ValueError as error:
        return "%s is not a CIDR: %s" % (shown(value), error)
    return ""


def cidrs_problems(values):
    """Problems of a list of CIDRs, each prefixed with its index."""
    return ["[%d] %s" % (index, reason) for index, reason in enumerate(map(cidr_problem, values)) if reason]


def ip_block_problems(block, where):
    reason = keys_problem(block, ("cidr", "except"), where + ".ipBlock")
    if reason:
        return [reason]
    problems = []
    reason = cidr_problem(block.get("cidr"))
    if reason:
        problems.append("%s.ipBlock.cidr: %s" % (where, reason))
    for index, excepted in enumerate(block.get("except") or []):
        reason = cidr_problem(excepted)
        if reason:
            problems.append("%s.ipBlock.except[%d]: %s" % (where, index, reason))
    return problems


def peers_problems(peers):
    """Problems of a list of NetworkPolicyPeer objects."""
    problems = []
    for index, peer in enumerate(peers):
        reason = keys_problem(peer, PEER_KEYS, "[%d]" % index)
        if not reason and not peer:
            reason = "[%d] is empty: it would let in nothing, or with an empty selector everything" % index
        if reason:
            problems.append(reason)
        elif "ipBlock" in peer:
            problems.extend(ip_block_problems(peer["ipBlock"], "[%d]" % index))
    return problems


# ---------------------------------------------------------------- code-server


_EXTENSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*\.[A-Za-z0-9][A-Za-z0-9-]*(@[0-9A-Za-z][0-9A-Za-z.+-]*)?$")


def extension_problem(value):
    """Why `value` is neither an extension id (publisher.name[@version]) nor the absolute path of a .vsix
    file: anything else could reach code-server's command line as an option."""
    if not isinstance(value, str):
        return "%s is not a string" % shown(value)
    if _EXTENSION_ID.fullmatch(value):
        return ""
    if value.startswith("/") and value.endswith(".vsix") and not re.search(r"[\s\x00-\x1f]", value):
        return ""
    return ("%s is neither an extension id (publisher.name or publisher.name@version) nor the absolute path of a "
            ".vsix file" % shown(value))
