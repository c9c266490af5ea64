# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of _deploy_common: names, labels, the Jupyter Server client
contract, the shared object builders, the pod-template digest, Secret
redaction and the validation helpers."""

from __future__ import annotations

import base64
import copy
import hashlib
import ipaddress
import json

import pytest

from ansible_collections.remotedev.jupyter.plugins.module_utils import _deploy_common as dc

LABELS = {"app.kubernetes.io/name": "jupyter-server", "app.kubernetes.io/instance": "demo"}


# ---------------------------------------------------------------- names and labels


@pytest.mark.parametrize("base_url,expected", [
    ("", "/"),
    (None, "/"),
    ("/", "/"),
    ("//", "/"),
    ("team", "/team/"),
    ("team/", "/team/"),
    ("/team", "/team/"),
    ("/team/", "/team/"),
    ("  /a/b/  ", "/a/b/"),
])
def test_url_path(base_url, expected):
    assert dc.url_path(base_url) == expected


def test_common_labels_collection_labels_win_over_extra():
    extra = {
        "team": "ml",
        "app.kubernetes.io/name": "hijack",
        "app.kubernetes.io/instance": "hijack",
        "app.kubernetes.io/component": "hijack",
        "app.kubernetes.io/part-of": "hijack",
        "app.kubernetes.io/managed-by": "hijack",
    }
    labels = dc.common_labels("jupyter-server", "demo", "server", extra)
    assert labels == {
        "team": "ml",
        "app.kubernetes.io/name": "jupyter-server",
        "app.kubernetes.io/instance": "demo",
        "app.kubernetes.io/component": "server",
        "app.kubernetes.io/part-of": "remotedev-jupyter",
        "app.kubernetes.io/managed-by": "remotedev.jupyter",
    }
    assert extra["app.kubernetes.io/name"] == "hijack"  # the caller's dict is not modified


def test_common_labels_without_extra_and_selector_subset():
    labels = dc.common_labels("code-server", "x", "workspace")
    selector = dc.selector_labels("code-server", "x")
    assert selector == {"app.kubernetes.io/name": "code-server", "app.kubernetes.io/instance": "x"}
    assert set(selector.items()) <= set(labels.items())
    assert len(labels) == 5


def test_external_and_service_url():
    assert dc.external_url(True, ["a.example", "b.example"], "tls", "/t/") == "https://a.example/t/"
    assert dc.external_url(True, ["a.example"], "", "/") == "http://a.example/"
    assert dc.external_url(False, ["a.example"], "tls") == ""
    assert dc.external_url(True, [], "tls") == ""
    assert dc.service_url("jupyter-demo", "ns", "cluster.local", 8888, "/t/") == \
        "http://jupyter-demo.ns.svc.cluster.local:8888/t/"


@pytest.mark.parametrize(("namespace", "context", "kubeconfig", "expected"), [
    ("ns", "", "", "kubectl -n ns"),
    ("ns", "prod@eks", "", "kubectl --context prod@eks -n ns"),
    ("ns", "my ctx", "/home/a b/kube", "kubectl --kubeconfig '/home/a b/kube' --context 'my ctx' -n ns"),
    ("ns", "it's", "", "kubectl --context 'it'\"'\"'s' -n ns"),
], ids=["current-context", "context", "quoted", "quote-in-name"])
def test_kubectl_hints_name_the_context_and_namespace(namespace, context, kubeconfig, expected):
    assert dc.kubectl_command(namespace, context, kubeconfig) == expected


# ---------------------------------------------------------------- client contract


def test_contract_round_trip():
    annotations = dc.server_service_annotations("http://jupyter-demo.ns.svc.cluster.local:8888/x/", "jupyter-demo",
                                                "token")
    service = {"metadata": {"name": "jupyter-demo", "annotations": dict(annotations, other="kept")}}
    assert dc.read_server_service_annotations(service) == (
        "http://jupyter-demo.ns.svc.cluster.local:8888/x/", "jupyter-demo", "token")
    assert annotations[dc.URL_ANNOTATION].startswith("http://")
    assert annotations[dc.TOKEN_SECRET_ANNOTATION] == "jupyter-demo/token"


def test_contract_round_trip_through_service_object():
    service = dc.service_object("jupyter-demo", "ns", LABELS, LABELS, 8888,
                                annotations=dc.server_service_annotations("http://u/", "sec", "key"))
    assert dc.read_server_service_annotations(json.loads(json.dumps(service))) == ("http://u/", "sec", "key")


@pytest.mark.parametrize("service", [None, {}, {"metadata": {}}, {"metadata": {"annotations": None}},
                                     {"metadata": {"annotations": {"unrelated": "x"}}}])
def test_contract_absent_annotations_read_as_empty(service):
    assert dc.read_server_service_annotations(service) == ("", "", "")


def test_client_pod_labels():
    assert dc.client_pod_labels("jupyter-demo") == {dc.CLIENT_LABEL: "jupyter-demo"}
    assert dc.CLIENT_LABEL == "remotedev.jupyter/jupyter-client"
    assert dc.client_pod_labels("") == {}
    assert dc.client_pod_labels(None) == {}


# ---------------------------------------------------------------- objects


def test_metadata_and_simple_objects():
    assert dc.metadata("n", "", {"a": "b"}) == {"name": "n", "labels": {"a": "b"}}
    assert dc.metadata("n", "ns", {}, {}) == {"name": "n", "namespace": "ns", "labels": {}, "annotations": {}}
    ns = dc.namespace_object("ns", {"x": "y"})
    assert ns == {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns", "labels": {"x": "y"}}}
    secret = dc.secret_object("s", "ns", LABELS, {"token": "abc", "ü": "päss"})
    assert secret["type"] == "Opaque"
    assert "stringData" not in secret
    assert {k: base64.b64decode(v).decode("utf-8") for k, v in secret["data"].items()} == {"token": "abc", "ü": "päss"}
    cm = dc.configmap_object("c", "ns", LABELS, {"k": "v"})
    assert cm["data"] == {"k": "v"} and cm["metadata"]["namespace"] == "ns"


def test_pvc_object_storage_class_only_when_set():
    pvc = dc.pvc_object("p", "ns", LABELS, "ReadWriteOnce", "", "10Gi")
    assert pvc["spec"] == {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}
    pvc = dc.pvc_object("p", "ns", LABELS, "ReadWriteMany", "nfs", 5)
    assert pvc["spec"]["storageClassName"] == "nfs"
    assert pvc["spec"]["resources"]["requests"]["storage"] == "5"


def test_pod_security_labels():
    assert dc.pod_security_labels("", "latest", {"a": "b"}) == {"a": "b"}
    labels = dc.pod_security_labels("restricted", "v1.30", {"pod-security.kubernetes.io/enforce": "privileged"})
    assert labels == {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "v1.30",
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
    }


def test_network_policy_without_client_of():
    np = dc.network_policy_object("n", "ns", LABELS, {"app": "x"}, {"kubernetes.io/metadata.name": "ingress-nginx"},
                                  {}, [])
    assert np["apiVersion"] == "networking.k8s.io/v1"
    assert np["spec"]["podSelector"] == {"matchLabels": {"app": "x"}}
    assert np["spec"]["policyTypes"] == ["Ingress"]
    rule, = np["spec"]["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]


def test_network_policy_with_client_of_pod_labels_and_extra_peers():
    extra = [{"ipBlock": {"cidr": "10.0.0.0/8"}}]
    np = dc.network_policy_object("jupyter-demo", "ns", LABELS, LABELS, {"ns": "ingress"}, {"app": "controller"},
                                  extra, client_of="jupyter-demo")
    assert np["spec"]["ingress"][0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"ns": "ingress"}}, "podSelector": {"matchLabels": {"app": "controller"}}},
        {"podSelector": {"matchLabels": {dc.CLIENT_LABEL: "jupyter-demo"}}},
        {"ipBlock": {"cidr": "10.0.0.0/8"}},
    ]
    # The client peer admits exactly the pods client_pod_labels gives.
    assert np["spec"]["ingress"][0]["from"][1]["podSelector"]["matchLabels"] == dc.client_pod_labels("jupyter-demo")


EGRESS = {
    "network_policy_egress_enabled": True,
    "network_policy_dns_to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                               "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
    "network_policy_egress_internet": True,
    "network_policy_egress_internet_except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
                                              "169.254.0.0/16", "127.0.0.0/8", "fc00::/7", "fe80::/10"],
    "network_policy_egress_extra_to": [],
}


def reaches(rules, address, port, protocol="TCP"):
    """Whether egress `rules` admit a connection to an address that is no pod (only ipBlocks count),
    as NetworkPolicy defines it: any rule whose ports and one of whose peers match."""
    ip = ipaddress.ip_address(address)
    for rule in rules:
        ports = rule.get("ports")
        if ports and not any(p["port"] == port and p["protocol"] == protocol for p in ports):
            continue
        for peer in rule.get("to", []):
            block = peer.get("ipBlock")
            if not block:
                continue
            cidr = ipaddress.ip_network(block["cidr"])
            if ip.version == cidr.version and ip in cidr and not any(
                    ip in ipaddress.ip_network(c) for c in block.get("except", [])):
                return True
    return False


def test_network_policy_with_egress_adds_the_policy_type():
    rules = dc.egress_rules(EGRESS)
    np = dc.network_policy_object("n", "ns", LABELS, {"app": "x"}, {"a": "b"}, {}, [], egress=rules)
    assert np["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert np["spec"]["egress"] == rules


def test_egress_rules_dns_first_then_internet_without_the_exceptions():
    rules = dc.egress_rules(EGRESS)
    assert rules[0] == {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
                        "to": EGRESS["network_policy_dns_to"]}
    assert rules[1] == {"to": [
        {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
                                                     "169.254.0.0/16", "127.0.0.0/8"]}},
        {"ipBlock": {"cidr": "::/0", "except": ["fc00::/7", "fe80::/10"]}},
    ]}
    assert len(rules) == 2


@pytest.mark.parametrize("address,port,allowed", [
    ("169.254.169.254", 80, False),  # cloud metadata
    ("fd00:ec2::254", 80, False),  # cloud metadata over IPv6
    ("10.96.0.1", 443, False),  # a typical API ClusterIP
    ("10.0.0.5", 6443, False),  # the API server's endpoint on a node (after DNAT)
    ("192.168.1.20", 10250, False),  # a node's kubelet
    ("172.17.0.1", 22, False),
    ("100.100.100.200", 80, False),  # metadata in shared address space
    ("127.0.0.1", 8888, False),
    ("198.51.100.7", 443, True),  # a package index on the internet
    ("2001:db8::7", 443, True),
], ids=["metadata", "metadata-v6", "api-clusterip", "api-endpoint", "kubelet", "docker-bridge", "shared-metadata",
        "loopback", "internet-v4", "internet-v6"])
def test_default_exceptions_keep_cluster_and_metadata_addresses_out(address, port, allowed):
    assert reaches(dc.egress_rules(EGRESS), address, port) is allowed


def test_egress_without_internet_reaches_only_dns_and_extra_peers():
    extra = [{"ipBlock": {"cidr": "198.51.100.0/24"}}]
    rules = dc.egress_rules(dict(EGRESS, network_policy_egress_internet=False, network_policy_egress_extra_to=extra))
    assert rules[-1] == {"to": extra}
    assert reaches(rules, "198.51.100.7", 3128)
    assert not reaches(rules, "203.0.113.9", 443)


def test_egress_of_a_client_reaches_the_servers_http_port():
    rules = dc.egress_rules(EGRESS, {"app.kubernetes.io/name": dc.JUPYTER_APP})
    assert rules[1] == {"ports": [{"port": "http", "protocol": "TCP"}],
                        "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "jupyter-server"}}}]}


def test_no_exceptions_give_bare_blocks_and_egress_off_gives_none():
    rules = dc.egress_rules(dict(EGRESS, network_policy_egress_internet_except=[]))
    assert rules[1]["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}}]
    assert dc.egress_rules(dict(EGRESS, network_policy_egress_enabled=False)) is None


def test_ingress_without_tls_and_class():
    ing = dc.ingress_object("n", "ns", LABELS, {}, "", ["a.example", "b.example"], "")
    assert "tls" not in ing["spec"] and "ingressClassName" not in ing["spec"]
    assert ing["metadata"]["annotations"] == {}
    assert [r["host"] for r in ing["spec"]["rules"]] == ["a.example", "b.example"]
    path, = ing["spec"]["rules"][0]["http"]["paths"]
    assert path == {"path": "/", "pathType": "Prefix",
                    "backend": {"service": {"name": "n", "port": {"name": "http"}}}}


def test_ingress_with_tls_class_annotations_and_path():
    ing = dc.ingress_object("n", "ns", LABELS, {"nginx.ingress.kubernetes.io/proxy-body-size": "0"}, "nginx",
                            ("a.example",), "a-tls", "/team/")
    assert ing["spec"]["ingressClassName"] == "nginx"
    assert ing["spec"]["tls"] == [{"hosts": ["a.example"], "secretName": "a-tls"}]
    assert ing["spec"]["rules"][0]["http"]["paths"][0]["path"] == "/team/"
    assert ing["metadata"]["annotations"] == {"nginx.ingress.kubernetes.io/proxy-body-size": "0"}


CLASS_ANNOTATIONS = {
    "nginx": {"nginx.ingress.kubernetes.io/proxy-read-timeout": "3600", "nginx.ingress.kubernetes.io/proxy-send-timeout": "3600"},
    "alb": {"alb.ingress.kubernetes.io/load-balancer-attributes": "idle_timeout.timeout_seconds=3600"},
    "traefik": {},
}


@pytest.mark.parametrize(("class_name", "annotations", "expected"), [
    ("nginx", {}, CLASS_ANNOTATIONS["nginx"]),
    ("alb", {"alb.ingress.kubernetes.io/scheme": "internal"},
     {"alb.ingress.kubernetes.io/load-balancer-attributes": "idle_timeout.timeout_seconds=3600",
      "alb.ingress.kubernetes.io/scheme": "internal"}),
    # explicit annotations win key by key
    ("nginx", {"nginx.ingress.kubernetes.io/proxy-read-timeout": "86400"},
     {"nginx.ingress.kubernetes.io/proxy-read-timeout": "86400", "nginx.ingress.kubernetes.io/proxy-send-timeout": "3600"}),
    ("traefik", {}, {}),
    # a class without an entry, or no class (the cluster's default controller, unknown): only the explicit ones
    ("nginx-internal", {"a.example/b": "c"}, {"a.example/b": "c"}),
    ("", {"a.example/b": "c"}, {"a.example/b": "c"}),
], ids=["nginx", "alb-plus-explicit", "explicit-wins", "traefik-none", "unknown-class", "no-class"])
def test_ingress_annotations_by_class(class_name, annotations, expected):
    assert dc.ingress_annotations(CLASS_ANNOTATIONS, class_name, annotations) == expected


def test_ingress_annotations_leave_the_defaults_alone():
    defaults = copy.deepcopy(CLASS_ANNOTATIONS)
    dc.ingress_annotations(defaults, "nginx", {"nginx.ingress.kubernetes.io/proxy-read-timeout": "1"})
    assert defaults == CLASS_ANNOTATIONS


@pytest.mark.parametrize(("value", "expected"), [
    (CLASS_ANNOTATIONS, []),
    ({"nginx": None}, ["[nginx]: must be a mapping, got null"]),
    ({"nginx": {"nginx.ingress.kubernetes.io/proxy-read-timeout": 3600}}, ["[nginx]: the value of"]),
    ({"Bad Class": {}}, ['["Bad Class"]: "Bad Class" is not a DNS subdomain name']),
    (["nginx"], ["must be a mapping of ingress class names to annotations"]),
], ids=["defaults", "entry-not-a-mapping", "number-value", "bad-class-name", "not-a-mapping"])
def test_class_annotations_problems(value, expected):
    problems = dc.class_annotations_problems(value)
    assert len(problems) == len(expected)
    for problem, start in zip(problems, expected):
        assert problem.startswith(start), problem


def test_security_contexts():
    pod = dc.pod_security_context(1000, 100)
    assert pod == {"runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 100, "fsGroup": 100,
                   "fsGroupChangePolicy": "OnRootMismatch", "seccompProfile": {"type": "RuntimeDefault"}}
    container = dc.container_security_context(0)
    assert container["readOnlyRootFilesystem"] is False
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert dc.container_security_context("yes")["readOnlyRootFilesystem"] is True


@pytest.mark.parametrize("timeout,threshold", [(300, 60), (301, 61), (10, 2), (4, 1)])
def test_http_probes(timeout, threshold):
    probes = dc.http_probes("/x/api", timeout)
    assert set(probes) == {"startupProbe", "readinessProbe", "livenessProbe"}
    assert all(p["httpGet"] == {"path": "/x/api", "port": "http"} for p in probes.values())
    assert probes["startupProbe"]["failureThreshold"] == threshold
    assert probes["startupProbe"]["periodSeconds"] * threshold >= timeout


def test_pod_scheduling_only_set_fields():
    assert dc.pod_scheduling([], {}, [], {}, "") == {}
    spec = dc.pod_scheduling(["regcred"], {"gpu": "yes"}, [{"key": "k", "operator": "Exists"}], {"nodeAffinity": {}},
                             "high")
    assert spec == {
        "imagePullSecrets": [{"name": "regcred"}], "nodeSelector": {"gpu": "yes"},
        "tolerations": [{"key": "k", "operator": "Exists"}], "affinity": {"nodeAffinity": {}},
        "priorityClassName": "high",
    }


# ---------------------------------------------------------------- deployment and digest


def _deployment(**overrides):
    args = {
        "name": "jupyter-demo", "namespace": "ns", "labels": dict(LABELS, extra="1"), "selector": LABELS,
        "replicas": 1, "strategy": {"type": "Recreate"}, "pod_labels": dict(LABELS),
        "pod_annotations": {"a": "1"},
        "pod_spec": {"containers": [{"name": "c", "image": "img:1", "env": [{"name": "A", "value": "1"}]}]},
    }
    args.update(overrides)
    return dc.deployment_object(**args)


def test_deployment_digest_label_is_digest_of_template_without_it():
    dep = _deployment()
    template = copy.deepcopy(dep["spec"]["template"])
    digest = template["metadata"]["labels"].pop(dc.TEMPLATE_LABEL)
    assert len(digest) == 32 and int(digest, 16) >= 0
    assert digest == dc.template_digest(template)
    assert dc.pod_template_digest_of(dep) == digest
    assert dep["spec"]["selector"] == {"matchLabels": LABELS}
    assert dc.TEMPLATE_LABEL not in dep["spec"]["selector"]["matchLabels"]
    assert dep["spec"]["revisionHistoryLimit"] == 3
    assert dep["metadata"]["labels"]["extra"] == "1"


def test_deployment_does_not_modify_pod_labels_argument():
    pod_labels = dict(LABELS)
    _deployment(pod_labels=pod_labels)
    assert pod_labels == LABELS


def test_deployment_digest_is_stable():
    assert dc.pod_template_digest_of(_deployment()) == dc.pod_template_digest_of(_deployment())


@pytest.mark.parametrize("overrides", [
    {"pod_labels": dict(LABELS, more="x")},
    {"pod_annotations": {"a": "2"}},
    {"pod_annotations": {"a": "1", "b": "1"}},
    {"pod_spec": {"containers": [{"name": "c", "image": "img:2", "env": [{"name": "A", "value": "1"}]}]}},
    {"pod_spec": {"containers": [{"name": "c", "image": "img:1", "env": [{"name": "A", "value": "2"}]}]}},
    {"pod_spec": {"containers": [{"name": "c", "image": "img:1", "env": [{"name": "A", "value": "1"}]}],
                  "nodeSelector": {"x": "y"}}},
])
def test_deployment_digest_changes_with_the_template(overrides):
    assert dc.pod_template_digest_of(_deployment(**overrides)) != dc.pod_template_digest_of(_deployment())


@pytest.mark.parametrize("overrides", [
    {"replicas": 0},
    {"strategy": {"type": "RollingUpdate"}},
    {"labels": {"other": "label"}},
])
def test_deployment_digest_ignores_what_is_outside_the_template(overrides):
    assert dc.pod_template_digest_of(_deployment(**overrides)) == dc.pod_template_digest_of(_deployment())


def test_keyed_checksum_is_stable_and_changes_with_any_part():
    assert dc.keyed_checksum("k", "a", "b") == dc.keyed_checksum("k", "a", "b")
    assert dc.keyed_checksum("k", "a", "b") != dc.keyed_checksum("k", "ab", "")
    assert len(dc.keyed_checksum("k", "x")) == 64


def test_keyed_checksum_depends_on_the_key_and_is_not_a_plain_hash():
    """Without the key, the annotation cannot be checked against guesses."""
    token = "abc"
    assert dc.keyed_checksum("key-1", token) != dc.keyed_checksum("key-2", token)
    plain = {hashlib.sha256(text.encode()).hexdigest() for text in (token, json.dumps([token]))}
    assert dc.keyed_checksum("key-1", token) not in plain


def test_keyed_checksum_refuses_an_empty_key():
    with pytest.raises(ValueError):
        dc.keyed_checksum("", "a")


# ---------------------------------------------------------------- redaction


def _secret(**values):
    return dc.secret_object("s", "ns", LABELS, values)


def test_redact_secret_without_before():
    secret = _secret(token="tok-123456", **{"password-hash": "argon2:$hash"})
    secret["stringData"] = {"plain": "clear-text-value"}
    redacted = dc.redact_secret(secret)
    assert redacted["data"] == {"token": dc.REDACTED, "password-hash": dc.REDACTED}
    assert "stringData" not in redacted
    text = json.dumps(redacted)
    for value in ("tok-123456", "argon2:$hash", "clear-text-value", dc.b64("tok-123456"), dc.b64("argon2:$hash")):
        assert value not in text
    # The input is not modified.
    assert secret["data"]["token"] == dc.b64("tok-123456")
    assert secret["stringData"] == {"plain": "clear-text-value"}


def test_redact_secret_reports_changes_per_key():
    before = _secret(token="old-token", hash="same-hash", removed="gone")
    after = _secret(token="new-token", hash="same-hash", added="fresh")
    redacted = dc.redact_secret(after, before)
    assert redacted["data"] == {"token": "(redacted, changed)", "hash": "(redacted, unchanged)",
                                "added": "(redacted, new)"}
    text = json.dumps(redacted)
    for value in ("old-token", "new-token", "same-hash", "fresh", dc.b64("new-token"), dc.b64("same-hash")):
        assert value not in text


def test_redact_secret_before_without_data():
    redacted = dc.redact_secret(_secret(token="t0k3n"), {"kind": "Secret", "metadata": {}})
    assert redacted["data"] == {"token": "(redacted, new)"}


@pytest.mark.parametrize("obj", [None, {}, {"kind": "ConfigMap", "data": {"k": "v"}}])
def test_redact_secret_leaves_other_objects(obj):
    assert dc.redact_secret(obj) is obj


# ---------------------------------------------------------------- deep_merge


def test_deep_merge():
    base = {"a": {"b": 1, "c": {"d": 2}}, "l": [1, 2], "s": "x"}
    override = {"a": {"c": {"e": 3}, "f": 4}, "l": [3], "s": {"now": "dict"}}
    merged = dc.deep_merge(base, override)
    assert merged == {"a": {"b": 1, "c": {"d": 2, "e": 3}, "f": 4}, "l": [3], "s": {"now": "dict"}}
    assert base == {"a": {"b": 1, "c": {"d": 2}}, "l": [1, 2], "s": "x"}
    merged["s"]["now"] = "changed"
    assert override["s"] == {"now": "dict"}


def test_deep_merge_dict_replaced_by_scalar_and_empty_override():
    assert dc.deep_merge({"a": {"b": 1}}, {"a": None}) == {"a": None}
    base = {"a": {"b": [1]}}
    merged = dc.deep_merge(base, {})
    assert merged == base and merged["a"] is not base["a"]


# ---------------------------------------------------------------- settings and validation helpers


def _settings(**values):
    return dc.Settings("jupyter_server", values)


def test_settings_and_problems():
    s = _settings(port=70000, name="x")
    assert s.var("port") == "jupyter_server_port"
    assert s["name"] == "x" and s.get("missing", 3) == 3
    problems = dc.Problems(s)
    problems.in_range("port", 1, 65535, " (a TCP port)")
    assert problems.check(True, "never") is True
    assert problems.check(False, "Second problem.") is False
    with pytest.raises(dc.InvalidSettings) as info:
        problems.raise_if_any()
    message = str(info.value)
    assert message == ("jupyter_server_port=70000 is out of range: it must be 1-65535 (a TCP port). "
                       "Second problem. Nothing was changed.")
    dc.Problems(s).raise_if_any()  # nothing collected: no exception


@pytest.mark.parametrize("values,bad", [
    ({"namespace": "ok", "instance": "ok", "name": "jupyter-ok"}, []),
    ({"namespace": "Bad_NS", "instance": "ok", "name": "jupyter-ok"}, ["namespace \"Bad_NS\""]),
    ({"namespace": "ok", "instance": "-x", "name": "jupyter-ok"}, ["instance \"-x\""]),
    ({"namespace": "ok", "instance": "ok", "name": "1abc"}, ["jupyter_server_name \"1abc\""]),
    ({"namespace": "ok", "instance": "ok", "name": "a" * 64}, ["jupyter_server_name"]),
    ({"namespace": "", "instance": "ok", "name": "x"}, ["namespace \"\""]),
])
def test_check_names(values, bad):
    problems = dc.Problems(_settings(**values))
    dc.check_names(problems, problems.s, ["name"])
    if not bad:
        assert problems.messages == []
    else:
        assert len(problems.messages) == 1
        for fragment in bad:
            assert fragment in problems.messages[0]


def test_check_names_extra_names_only_when_set():
    s = dc.Settings("code_server", {"namespace": "ns", "instance": "i", "name": "n", "jupyter_name": ""})
    problems = dc.Problems(s)
    dc.check_names(problems, s, ["name"], extra_names=["jupyter_name"])
    assert problems.messages == []
    s.values["jupyter_name"] = "Jupyter"
    dc.check_names(problems, s, ["name"], extra_names=["jupyter_name"])
    assert "code_server_jupyter_name \"Jupyter\"" in problems.messages[0]


@pytest.mark.parametrize("enabled,hosts,tls,ok", [
    (False, [], "", True),
    (True, ["a.example"], "", True),
    (True, ["a.example", "b.example"], "a-tls", True),
    (True, [], "", False),
    (True, ["Not A Host"], "", False),
    (True, ["a.example"], "Bad_TLS", False),
])
def test_check_ingress(enabled, hosts, tls, ok):
    problems = dc.Problems(_settings(ingress_enabled=enabled, ingress_hosts=hosts, ingress_tls_secret=tls))
    dc.check_ingress(problems, problems.s)
    assert (problems.messages == []) is ok
    if not ok:
        assert "jupyter_server_ingress_enabled needs jupyter_server_ingress_hosts" in problems.messages[0]


@pytest.mark.parametrize("image,render_only,state,ok", [
    ("img:1", False, "present", True),
    ("", False, "present", True),  # the running image is kept (checked at preflight)
    ("", True, "present", False),
    ("", True, "absent", True),
    ("img with space", False, "present", False),
])
def test_check_image(image, render_only, state, ok):
    problems = dc.Problems(_settings(image=image))
    dc.check_image(problems, problems.s, render_only, state)
    assert (problems.messages == []) is ok
    if not ok:
        assert problems.messages[0].startswith("jupyter_server_image")


def test_check_env_and_render_dest():
    problems = dc.Problems(_settings(env=[{"name": "A", "value": "1"}, {"value": "2"}, {"name": ""}],
                                     render_only=True, render_dest=""))
    dc.check_env(problems, problems.s)
    dc.check_render_dest(problems, problems.s)
    assert len(problems.messages) == 3
    assert problems.messages[0].startswith("jupyter_server_env[1] has no name")
    assert problems.messages[1].startswith("jupyter_server_env[2] has no name")
    assert problems.messages[2] == "jupyter_server_render_only needs jupyter_server_render_dest, the file to write " \
                                   "the manifests to."


def test_render_dest_must_be_a_file_in_an_existing_directory(tmp_path):
    def problems_of(dest):
        problems = dc.Problems(_settings(render_only=True, render_dest=dest))
        dc.check_render_dest(problems, problems.s)
        return problems.messages

    assert problems_of(str(tmp_path / "out.yaml")) == []
    assert problems_of(str(tmp_path / "missing" / "out.yaml")) == [
        "jupyter_server_render_dest: the directory %s does not exist on the controller." % (tmp_path / "missing")]
    assert problems_of(str(tmp_path)) == ["jupyter_server_render_dest: %s is a directory; name the file to write." % tmp_path]


def test_scanner_skips_only_below_a_high_uid_and_always_with_a_reason():
    skips = dc.scanner_skips(1000, "jupyter_server_uid")
    check_id, reason = skips["checkov.io/skip1"].split("=")  # checkov splits on '=': exactly one
    assert check_id == "CKV_K8S_40"
    assert "jupyter_server_uid" in reason and "uid 1000" in reason
    assert dc.scanner_skips(10000, "jupyter_server_uid") == {}
    # a pod without volumes is not told it has some (the frontend)
    check_id, reason = dc.scanner_skips(1000, "frontend_uid", volumes=False)["checkov.io/skip1"].split("=")
    assert check_id == "CKV_K8S_40" and "frontend_uid" in reason and "mounts no volume" in reason
    assert "existing volumes" not in reason


def test_deployment_object_annotations_only_when_given():
    args = ("d", "ns", {"a": "b"}, {"a": "b"}, 1, {"type": "Recreate"}, {"a": "b"}, {}, {"containers": []})
    assert "annotations" not in dc.deployment_object(*args)["metadata"]
    assert dc.deployment_object(*args, annotations={"x": "y"})["metadata"]["annotations"] == {"x": "y"}
