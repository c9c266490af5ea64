# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes value rules the roles check before the first change."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ansible_collections.remotedev.jupyter.plugins.module_utils import _k8s_values as kv


@pytest.mark.parametrize("text,value", [
    ("10Gi", Decimal(10 * 2 ** 30)),
    ("250m", Decimal("0.25")),
    ("1", Decimal(1)),
    (2, Decimal(2)),
    ("1.5", Decimal("1.5")),
    (".5", Decimal("0.5")),
    ("1e3", Decimal(1000)),
    ("1E-3", Decimal("0.001")),
    ("2k", Decimal(2000)),
    ("3M", Decimal(3000000)),
    ("100n", Decimal("1e-7")),
    ("+4Ki", Decimal(4096)),
    ("-10Gi", Decimal(-10 * 2 ** 30)),
], ids=["Gi", "milli", "plain", "int", "fraction", "leading-dot", "exponent", "exponent-negative", "kilo", "mega",
        "nano", "plus-Ki", "negative"])
def test_parse_quantity(text, value):
    assert kv.parse_quantity(text) == value


@pytest.mark.parametrize("text", ["lots", "", "10 Gi", "10GB", "1.2.3", "Gi", "10gi", "1e", None, True, [1], "0x10", "10Gi\n"],
                         ids=["word", "empty", "space", "GB", "two-dots", "suffix-only", "lower-gi", "bare-e", "none", "bool",
                              "list", "hex", "trailing-newline"])
def test_not_a_quantity(text):
    with pytest.raises(ValueError):
        kv.parse_quantity(text)


def test_quantity_problem():
    assert kv.quantity_problem("1Gi") == ""
    assert "not above zero" in kv.quantity_problem("0")
    assert "not above zero" in kv.quantity_problem("-1Gi")
    assert kv.quantity_problem("0", positive=False) == ""
    assert "is negative" in kv.quantity_problem("-1", positive=False)
    assert "is not a Kubernetes quantity" in kv.quantity_problem("banana")


def test_resources():
    assert kv.resources_problems({"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "4Gi"}}) == []
    assert kv.resources_problems({}) == []
    assert kv.resources_problems({"requests": {"nvidia.com/gpu": 1}, "limits": {"nvidia.com/gpu": 1}}) == []
    assert kv.resources_problems({"requests": {"memory": "2Gi"}, "limits": {"memory": "2048Mi"}}) == []
    assert kv.resources_problems({"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}) == [
        "limits.memory (1Gi) is below requests.memory (2Gi)"]
    assert kv.resources_problems({"requests": {"cpu": "1"}, "limits": {"cpu": "999m"}}) == ["limits.cpu (999m) is below requests.cpu (1)"]
    assert kv.resources_problems({"requests": {"cpu": "banana"}})[0].startswith('requests.cpu: "banana" is not')
    assert kv.resources_problems({"requests": ["cpu"]})[0].startswith("requests must be a mapping")
    assert kv.resources_problems({"limit": {}}) == ['has an unknown key "limit" (only requests and limits)']
    assert "resource name" in kv.resources_problems({"limits": {"bad name": "1"}})[0]
    assert kv.resources_problems("1Gi")[0].startswith("must be a mapping")


@pytest.mark.parametrize("key,ok", [
    ("app", True), ("app.kubernetes.io/name", True), ("a_b-c.d", True), ("x" * 63, True), ("example.com/" + "x" * 63, True),
    ("", False), ("x" * 64, False), ("-a", False), ("a-", False), ("team name", False), ("Example.COM/x", False),
    ("/x", False), ("a/b/c", False), ("example.com/", False), (1, False),
], ids=["simple", "prefixed", "punctuation", "63", "prefixed-63", "empty", "64", "leading-dash", "trailing-dash", "space",
        "upper-prefix", "empty-prefix", "two-slashes", "empty-name", "number"])
def test_label_key(key, ok):
    assert (kv.label_key_problem(key) == "") is ok


@pytest.mark.parametrize("value,ok", [
    ("", True), ("a", True), ("v1.2_3-x", True), ("x" * 63, True),
    ("x" * 64, False), ("a b", False), ("-a", False), ("a/b", False), (1, False), (None, False),
], ids=["empty", "one", "punctuation", "63", "64", "space", "leading-dash", "slash", "number", "null"])
def test_label_value(value, ok):
    assert (kv.label_value_problem(value) == "") is ok


def test_labels_and_annotations():
    assert kv.labels_problems({"team": "a"}) == []
    assert len(kv.labels_problems({"team name": "a", "ok": "a b"})) == 2
    assert kv.labels_problems({"nginx.ingress.kubernetes.io/proxy-body-size": "0 with spaces"}, values_are_labels=False) == []
    assert "not a string" in kv.labels_problems({"a": 1}, values_are_labels=False)[0]
    assert kv.labels_problems([]) == ["must be a mapping, got []"]


@pytest.mark.parametrize("image,ok", [
    ("jupyter", True),
    ("127.0.0.1:5000/remotedev/jupyter-server:1.0", True),
    ("localhost:5000/a/b/c:latest", True),
    ("registry.example.test/team/jupyter@sha256:" + "a" * 64, True),
    ("registry.example.test/team/jupyter:1.0@sha256:" + "a" * 64, True),
    ("a__b/c.d-e:T_1.x", True),
    ("[::1]:5000/img:1", True),
    ("Registry/Jupyter:1", False),
    ("--privileged", False),
    ("img:1:2", False),
    ("img with space", False),
    ("img:", False),
    ("img@sha256:abc", False),
    ("/img", False),
    ("img:" + "t" * 129, False),
    ("", False),
], ids=["name-only", "local-registry", "localhost", "digest", "tag-and-digest", "separators", "ipv6", "upper-case", "flag",
        "two-tags", "space", "empty-tag", "short-digest", "leading-slash", "long-tag", "empty"])
def test_image_reference(image, ok):
    assert (kv.image_problem(image) == "") is ok


def test_env():
    assert kv.env_problems([{"name": "A", "value": "1"}, {"name": "my.var-x", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]) == []
    assert kv.env_problems([{}])[0].startswith("[0] has no name")
    assert kv.env_problems(["A=1"])[0].startswith("[0] is not a mapping")
    assert "not a valid environment variable name" in kv.env_problems([{"name": "1A"}])[0]
    assert "not a valid environment variable name" in kv.env_problems([{"name": "A=B"}])[0]
    assert "set by the role itself" in kv.env_problems([{"name": "R", "value": ""}], reserved=("R",))[0]
    assert "given twice" in kv.env_problems([{"name": "A", "value": ""}, {"name": "A", "value": ""}])[0]
    assert "unknown keys valuefrom" in kv.env_problems([{"name": "A", "valuefrom": {}}])[0]
    assert "both value and valueFrom" in kv.env_problems([{"name": "A", "value": "", "valueFrom": {"fieldRef": {}}}])[0]
    assert "not a string" in kv.env_problems([{"name": "A", "value": 3}])[0]
    assert "valueFrom must have exactly one of" in kv.env_problems([{"name": "A", "valueFrom": {"secret": {}}}])[0]


def test_tolerations_affinity_and_peers():
    assert kv.tolerations_problems([{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
                                    {"key": "a", "value": "b", "tolerationSeconds": 30}]) == []
    assert "operator" in kv.tolerations_problems([{"operator": "Is"}])[0]
    assert "effect" in kv.tolerations_problems([{"effect": "Never"}])[0]
    assert "takes no value" in kv.tolerations_problems([{"key": "a", "operator": "Exists", "value": "b"}])[0]
    assert "unknown keys" in kv.tolerations_problems([{"keys": "a"}])[0]
    assert "not an integer" in kv.tolerations_problems([{"tolerationSeconds": "30"}])[0]
    assert kv.keys_problem({"nodeAffinity": {}}, kv.AFFINITY_KEYS, "affinity") == ""
    assert "unknown keys nodeSelector" in kv.keys_problem({"nodeSelector": {}}, kv.AFFINITY_KEYS, "affinity")
    assert kv.peers_problems([{"ipBlock": {"cidr": "10.0.0.0/8"}}, {"namespaceSelector": {}, "podSelector": {}}]) == []
    assert "unknown keys cidr" in kv.peers_problems([{"cidr": "x"}])[0]
    assert "is empty" in kv.peers_problems([{}])[0]
    assert kv.peers_problems([{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16", "fc00::/7"]}}]) == []
    assert kv.peers_problems([{"ipBlock": {"cidr": "10.0.0.1"}}]) == ["[0].ipBlock.cidr: \"10.0.0.1\" is not a CIDR (address/prefix length)"]
    assert "[0].ipBlock.except[1]: " in kv.peers_problems([{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16", "10.2.0.1/16"]}}])[0]
    assert "unknown keys cdir" in kv.peers_problems([{"ipBlock": {"cdir": "10.0.0.0/8"}}])[0]


def test_cidrs_problems():
    assert kv.cidrs_problems(["10.0.0.0/8", "fe80::/10"]) == []
    assert kv.cidrs_problems(["10.0.0.0/8", "banana", 7]) == [
        '[1] "banana" is not a CIDR (address/prefix length)', "[2] 7 is not a CIDR (address/prefix length)"]
    assert "has host bits set" in kv.cidrs_problems(["192.168.1.1/16"])[0]


@pytest.mark.parametrize("extension,ok", [
    ("ms-python.python", True), ("ms-toolsai.jupyter@2024.1.0", True), ("/opt/ext/my-ext-1.0.vsix", True),
    ("--user-data-dir=/tmp/x", False), ("-h", False), ("python", False), ("ext/my.vsix", False), ("/opt/x.zip", False),
    ("a.b@", False), ("a.b c", False), ("/opt/my ext.vsix", False), ("", False), (1, False),
], ids=["id", "id-version", "vsix", "long-flag", "short-flag", "no-publisher", "relative-vsix", "not-vsix", "empty-version",
        "space", "vsix-space", "empty", "number"])
def test_extension(extension, ok):
    assert (kv.extension_problem(extension) == "") is ok


def test_dns_names():
    assert kv.dns_subdomain_problem("a.b-c") == ""
    assert kv.dns_subdomain_problem("A") and kv.dns_subdomain_problem("a_b") and kv.dns_subdomain_problem("a" * 254)
    assert kv.dns_label_problem("a-b") == ""
    assert kv.dns_label_problem("a.b")
