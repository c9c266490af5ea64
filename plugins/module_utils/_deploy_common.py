# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every deployable of the collection shares (PRIVATE, no public API):
settings access, validation helpers, names and labels, the objects built the
same way for every component (Namespace, Secret, PVC, Service, NetworkPolicy,
Ingress, pod and container security), the pod-template digest, and the
contract between the Jupyter Server and its clients (code-server).

Everything here is a pure function of its arguments."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import os
import re

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - PyYAML comes with ansible-core, where the engine runs
    HAS_YAML = False

from ansible_collections.remotedev.jupyter.plugins.module_utils._k8s_values import (
    AFFINITY_KEYS,
    cidrs_problems,
    dns_subdomain_problem,
    env_problems,
    image_problem,
    keys_problem,
    labels_problems,
    peers_problems,
    quantity_problem,
    resources_problems,
    shown,
    tolerations_problems,
)

PART_OF = "remotedev-jupyter"
MANAGED_BY = "remotedev.jupyter"
FIELD_MANAGER = "remotedev-jupyter"

RFC1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
RFC1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

# The pod template label whose value is a digest of the template itself: the
# rollout wait selects exactly the pods of the template just applied.
TEMPLATE_LABEL = "remotedev.jupyter/pod-template"
CONFIG_CHECKSUM_ANNOTATION = "remotedev.jupyter/config-checksum"
SECRET_CHECKSUM_ANNOTATION = "remotedev.jupyter/secret-checksum"
# The Secret key of the random key the secret checksum is keyed with: whoever
# may read pods (and so the annotation) cannot test guesses of a token or a
# password against it without also reading the Secret.
CHECKSUM_KEY = "checksum-key"

# Container states that will not fix themselves: the rollout wait gives up early.
FATAL_REASONS = frozenset([
    "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError",
    "CreateContainerError", "CrashLoopBackOff", "RunContainerError",
])

REDACTED = "REDACTED"


class InvalidSettings(ValueError):
    """Settings that would fail halfway through a converge; the message names the variable(s)."""


class Settings:
    """The role variables of one component, by short name; `var(name)` gives the
    name users set (prefixed), for messages."""

    def __init__(self, prefix, values):
        self.prefix = prefix
        self.values = dict(values)

    def __getitem__(self, name):
        return self.values[name]

    def get(self, name, default=None):
        return self.values.get(name, default)

    def var(self, name):
        return "%s_%s" % (self.prefix, name)


class Problems:
    """Collects every validation problem, so that one run reports them all."""

    def __init__(self, settings):
        self.s = settings
        self.messages = []

    def add(self, message):
        self.messages.append(message)

    def check(self, condition, message):
        if not condition:
            self.add(message)
        return condition

    def in_range(self, name, low, high, why=""):
        value = self.s[name]
        self.check(low <= value <= high, "%s=%s is out of range: it must be %s-%s%s."
                   % (self.s.var(name), value, low, high, why))

    def min_length(self, name, low, what, if_empty):
        """An explicit secret (a token, a password) of at least `low` characters;
        empty means `if_empty`. The message never shows the value."""
        value = self.s[name] or ""
        self.check(not value or len(value) >= low,
                   "%s is %d characters long: an explicit %s must have at least %d (or leave it empty: %s)."
                   % (self.s.var(name), len(value), what, low, if_empty))

    def raise_if_any(self):
        if self.messages:
            raise InvalidSettings(" ".join(self.messages) + " Nothing was changed.")


# ---------------------------------------------------------------- names and labels


def selector_labels(app, instance):
    return {"app.kubernetes.io/name": app, "app.kubernetes.io/instance": instance}


def common_labels(app, instance, component, extra=None):
    """The user's extra labels, then the collection's own (which win)."""
    labels = dict(extra or {})
    labels.update(selector_labels(app, instance))
    labels.update({
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    })
    return labels


def url_path(base_url):
    """'team/' or '/team' -> '/team/'; '' or '/' -> '/'."""
    stripped = (base_url or "").strip().strip("/")
    return "/" + stripped + "/" if stripped else "/"


def external_url(ingress_enabled, hosts, tls_secret, path="/"):
    if ingress_enabled and hosts:
        return "%s://%s%s" % ("https" if tls_secret else "http", hosts[0], path)
    return ""


def shell_word(text):
    """text as one POSIX shell word."""
    return text if re.match(r"^[\w@%+=:,./-]+$", text) else "'%s'" % text.replace("'", "'\"'\"'")


def kubectl_command(namespace, context="", kubeconfig=""):
    """The kubectl a printed hint starts with: the kubeconfig, context and
    namespace the run used, so that it works whatever the current context is."""
    words = ["kubectl"]
    if kubeconfig:
        words += ["--kubeconfig", shell_word(kubeconfig)]
    if context:
        words += ["--context", shell_word(context)]
    return " ".join(words + ["-n", shell_word(namespace)])


def service_url(name, namespace, cluster_domain, port, path="/"):
    return "http://%s.%s.svc.%s:%s%s" % (name, namespace, cluster_domain, port, path)


# ---------------------------------------------------------------- the Jupyter Server's client contract
#
# How a client in the cluster (code-server, or any later one) finds a Jupyter
# Server and is let in: the server's Service carries its URL and the Secret
# key of its token as annotations, and its NetworkPolicy admits pods labelled
# CLIENT_LABEL=<server name>.

CLIENT_LABEL = "remotedev.jupyter/jupyter-client"
# A client's own NetworkPolicy lets it out to pods with this app name, on their http port.
JUPYTER_APP = "jupyter-server"
URL_ANNOTATION = "remotedev.jupyter/url"
TOKEN_SECRET_ANNOTATION = "remotedev.jupyter/token-secret"


def server_service_annotations(url, secret_name, token_key):
    return {URL_ANNOTATION: url, TOKEN_SECRET_ANNOTATION: "%s/%s" % (secret_name, token_key)}


def read_server_service_annotations(service):
    """(url, secret_name, token_key) from a Jupyter Server's Service; empty strings where absent."""
    annotations = ((service or {}).get("metadata") or {}).get("annotations") or {}
    secret_name, _sep, token_key = (annotations.get(TOKEN_SECRET_ANNOTATION) or "").partition("/")
    return annotations.get(URL_ANNOTATION, ""), secret_name, token_key


def client_pod_labels(server_name):
    """The labels that make a pod a client the server's NetworkPolicy lets in."""
    return {CLIENT_LABEL: server_name} if server_name else {}


# ---------------------------------------------------------------- objects


def metadata(name, namespace, labels, annotations=None):
    meta = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    meta["labels"] = labels
    if annotations is not None:
        meta["annotations"] = annotations
    return meta


def namespace_object(name, labels):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def pod_security_labels(level, version, extra=None):
    labels = dict(extra or {})
    if level:
        labels.update({
            "pod-security.kubernetes.io/enforce": level,
            "pod-security.kubernetes.io/enforce-version": version,
            "pod-security.kubernetes.io/audit": level,
            "pod-security.kubernetes.io/warn": level,
        })
    return labels


def b64(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def secret_object(name, namespace, labels, values):
    """data, not stringData: server-side apply then compares like with like and an
    unchanged Secret stays unchanged."""
    return {
        "apiVersion": "v1", "kind": "Secret", "metadata": metadata(name, namespace, labels), "type": "Opaque",
        "data": {key: b64(value) for key, value in values.items()},
    }


def configmap_object(name, namespace, labels, data):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata(name, namespace, labels), "data": data}


def pvc_object(name, namespace, labels, access_mode, storage_class, size):
    spec = {"accessModes": [access_mode]}
    if storage_class:
        spec["storageClassName"] = storage_class
    spec["resources"] = {"requests": {"storage": str(size)}}
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": metadata(name, namespace, labels),
            "spec": spec}


def service_object(name, namespace, labels, selector, port, service_type="ClusterIP", annotations=None):
    return {
        "apiVersion": "v1", "kind": "Service", "metadata": metadata(name, namespace, labels, annotations),
        "spec": {
            "type": service_type,
            "selector": selector,
            "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def network_policy_object(name, namespace, labels, selector, ingress_namespace_labels, ingress_pod_labels,
                          extra_from, client_of=None, egress=None):
    """Ingress to the pods' http port from the ingress controller, the server's
    clients (client_of: the pods labelled as its clients) and extra peers; with
    `egress` (a list of rules, see egress_rules), egress limited to those rules."""
    controller = {"namespaceSelector": {"matchLabels": ingress_namespace_labels}}
    if ingress_pod_labels:
        controller["podSelector"] = {"matchLabels": ingress_pod_labels}
    peers = [controller]
    if client_of:
        peers.append({"podSelector": {"matchLabels": client_pod_labels(client_of)}})
    peers.extend(extra_from)
    spec = {
        "podSelector": {"matchLabels": selector},
        "policyTypes": ["Ingress"],
        "ingress": [{"ports": [{"port": "http", "protocol": "TCP"}], "from": peers}],
    }
    if egress is not None:
        spec["policyTypes"].append("Egress")
        spec["egress"] = egress
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": metadata(name, namespace, labels),
        "spec": spec,
    }


DNS_PORTS = [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]


def internet_peers(excepted):
    """ipBlocks of every IPv4 and IPv6 address but the `excepted` CIDRs (each in its family's block).

    NetworkPolicy only allows: "anywhere but these" is the whole address space
    with exceptions. Engines judge Service traffic after DNAT, so the API
    server's ClusterIP counts as its endpoints' addresses (the nodes, or the
    control plane's): the exceptions must name those, not the ClusterIP."""
    peers = []
    for cidr, family in (("0.0.0.0/0", [c for c in excepted if ":" not in c]),
                         ("::/0", [c for c in excepted if ":" in c])):
        block = {"cidr": cidr}
        if family:
            block["except"] = list(family)
        peers.append({"ipBlock": block})
    return peers


def egress_rules(s, server_selector=None):
    """The egress a component's pods get from its settings: DNS (UDP and TCP 53)
    to s["network_policy_dns_to"]; the Jupyter Server's http port (server_selector:
    its pods' labels, for its clients); with s["network_policy_egress_internet"]
    every address but s["network_policy_egress_internet_except"]; any port of
    s["network_policy_egress_extra_to"]. None when egress is not restricted."""
    if not s["network_policy_egress_enabled"]:
        return None
    rules = [{"ports": list(DNS_PORTS), "to": list(s["network_policy_dns_to"])}]
    if server_selector:
        rules.append({"ports": [{"port": "http", "protocol": "TCP"}],
                      "to": [{"podSelector": {"matchLabels": server_selector}}]})
    if s["network_policy_egress_internet"]:
        rules.append({"to": internet_peers(s["network_policy_egress_internet_except"])})
    if s["network_policy_egress_extra_to"]:
        rules.append({"to": list(s["network_policy_egress_extra_to"])})
    return rules


def ingress_annotations(class_annotations, class_name, annotations):
    """The Ingress's annotations: the defaults for its class (what that
    controller needs for long-lived websockets), then the explicit ones, which
    win key by key. No class named, no defaults: the controller is unknown."""
    merged = dict((class_annotations or {}).get(class_name) or {}) if class_name else {}
    merged.update(annotations or {})
    return merged


def class_annotations_problems(value):
    """Problems of {ingress class name: {annotation: value}}, each naming its class."""
    if not isinstance(value, dict):
        return ["must be a mapping of ingress class names to annotations, got %s" % shown(value)]
    problems = []
    for class_name, class_value in value.items():
        reason = dns_subdomain_problem(class_name)
        if reason:
            problems.append("[%s]: %s" % (shown(class_name), reason))
            continue
        problems.extend("[%s]: %s" % (class_name, reason)
                        for reason in labels_problems(class_value, values_are_labels=False))
    return problems


def ingress_object(name, namespace, labels, annotations, class_name, hosts, tls_secret, path="/"):
    spec = {}
    if class_name:
        spec["ingressClassName"] = class_name
    if tls_secret:
        spec["tls"] = [{"hosts": list(hosts), "secretName": tls_secret}]
    spec["rules"] = [
        {"host": host, "http": {"paths": [{
            "path": path, "pathType": "Prefix",
            "backend": {"service": {"name": name, "port": {"name": "http"}}},
        }]}}
        for host in hosts
    ]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": metadata(name, namespace, labels, annotations), "spec": spec}


def pod_security_context(uid, gid):
    return {
        "runAsNonRoot": True, "runAsUser": uid, "runAsGroup": gid, "fsGroup": gid,
        "fsGroupChangePolicy": "OnRootMismatch", "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context(read_only_root_filesystem):
    return {
        "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": bool(read_only_root_filesystem),
        "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
    }


def http_probes(path, startup_timeout):
    """startup (as long as the server may take to come up), readiness, liveness."""
    def get(**more):
        probe = {"httpGet": {"path": path, "port": "http"}}
        probe.update(more)
        return probe
    return {
        "startupProbe": get(periodSeconds=5, failureThreshold=-(-startup_timeout // 5)),
        "readinessProbe": get(periodSeconds=10, timeoutSeconds=5, failureThreshold=3),
        "livenessProbe": get(periodSeconds=20, timeoutSeconds=10, failureThreshold=6),
    }


def pod_scheduling(image_pull_secrets, node_selector, tolerations, affinity, priority_class_name=""):
    """The optional pod spec fields, only those that are set."""
    spec = {}
    if image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": name} for name in image_pull_secrets]
    if node_selector:
        spec["nodeSelector"] = node_selector
    if tolerations:
        spec["tolerations"] = tolerations
    if affinity:
        spec["affinity"] = affinity
    if priority_class_name:
        spec["priorityClassName"] = priority_class_name
    return spec


def deployment_object(name, namespace, labels, selector, replicas, strategy, pod_labels, pod_annotations, pod_spec,
                      annotations=None):
    """A Deployment whose pod template carries TEMPLATE_LABEL=<digest of the template>."""
    template = {"metadata": {"labels": dict(pod_labels), "annotations": pod_annotations}, "spec": pod_spec}
    digest = template_digest(template)
    template["metadata"]["labels"][TEMPLATE_LABEL] = digest
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata(name, namespace, labels, annotations or None),
        "spec": {
            "replicas": replicas, "revisionHistoryLimit": 3, "strategy": strategy,
            "selector": {"matchLabels": selector}, "template": template,
        },
    }


# checkov's CKV_K8S_40 wants a uid of at least this, so that a container's user
# is no host user's (uid 1000 is often the node's first user).
HIGH_UID = 10000


def scanner_skips(uid, uid_var, volumes=True):
    """The in-line checkov skips of a Deployment, each with its reason, only
    where it applies (annotation values: ID=reason, no '=' in the reason).
    `volumes`: whether the pod mounts volumes whose files the uid owns."""
    if uid >= HIGH_UID:
        return {}
    if volumes:
        why = ("uid %d is the image's user and owns the files on existing volumes (written 0644) so a new uid would "
               "lock users out of their own files; the pod is non-root without privilege escalation or capabilities "
               "and mounts no host path" % uid)
    else:
        why = ("uid %d is the user the collection's images share; the pod is non-root without privilege escalation "
               "or capabilities and mounts no volume" % uid)
    return {"checkov.io/skip1": "CKV_K8S_40=%s. New installations may set %s and image_uid to 10000 or more"
            % (why, uid_var)}


def template_digest(template):
    """32 hex characters of the SHA-256 of the pod template (before the digest label is added)."""
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode("utf-8")).hexdigest()[:32]


def keyed_checksum(key, *parts):
    """HMAC-SHA256 of the parts under `key`: changes with any part, and without
    the key tells nothing about them (an unkeyed hash of a short token can be
    reversed by guessing)."""
    if not key:
        raise ValueError("keyed_checksum needs a key")
    return hmac.new(key.encode("utf-8"), json.dumps(list(parts)).encode("utf-8"), hashlib.sha256).hexdigest()


def pod_template_digest_of(deployment):
    return deployment["spec"]["template"]["metadata"]["labels"][TEMPLATE_LABEL]


def redact_secret(obj, before=None):
    """A copy of a Secret with every value replaced: REDACTED, or (when the
    previous version is given) whether the value changed."""
    if not obj or obj.get("kind") != "Secret":
        return obj
    redacted = copy.deepcopy(obj)
    old = ((before or {}).get("data") or {}) if before is not None else None
    for key in list(redacted.get("data") or {}):
        if old is None:
            redacted["data"][key] = REDACTED
        elif key not in old:
            redacted["data"][key] = "(redacted, new)"
        else:
            redacted["data"][key] = "(redacted, %s)" % ("unchanged" if old[key] == obj["data"][key] else "changed")
    redacted.pop("stringData", None)
    return redacted


def _str_representer(dumper, value):
    """Multi-line strings (config files) as literal blocks, so that a diff shows their lines."""
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


if HAS_YAML:
    class _Dumper(yaml.SafeDumper):
        pass

    _Dumper.add_representer(str, _str_representer)


def to_yaml(obj, sort_keys=False):
    return yaml.dump(obj, Dumper=_Dumper, default_flow_style=False, sort_keys=sort_keys, allow_unicode=True,
                     width=1000)


def deep_merge(base, override):
    """override merged into a copy of base, recursively for mappings."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def check_names(problems, s, names, extra_names=()):
    """namespace and instance are RFC 1123 labels, object names RFC 1035 labels."""
    rules = [("namespace", RFC1123_LABEL), ("instance", RFC1123_LABEL)] + [(n, RFC1035_LABEL) for n in names]
    bad = [(n, rule) for n, rule in rules if not rule.fullmatch(s[n] or "")]
    bad += [(n, RFC1035_LABEL) for n in extra_names if s[n] and not RFC1035_LABEL.fullmatch(s[n])]
    if bad:
        problems.add(
            "Invalid name: %s. Namespace and instance must be RFC 1123 labels (lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters); object names (%s) must also start "
            "with a letter."
            % (", ".join("%s %s" % (n if n in ("namespace", "instance") else s.var(n), json.dumps(s[n])) for n, _rule in bad),
               ", ".join(s.var(n) for n in names))
        )


def check_ingress(problems, s):
    if not s["ingress_enabled"]:
        return
    hosts = s["ingress_hosts"]
    tls = s["ingress_tls_secret"]
    problems.check(
        hosts and all(DNS_SUBDOMAIN.fullmatch(h or "") for h in hosts) and (not tls or DNS_SUBDOMAIN.fullmatch(tls)),
        "%s needs %s, a list of DNS names (got %s); %s must be a Secret name (got %s)."
        % (s.var("ingress_enabled"), s.var("ingress_hosts"), json.dumps(hosts), s.var("ingress_tls_secret"),
           json.dumps(tls)))


def check_image(problems, s, render_only, state):
    image = s["image"]
    if not image.strip():
        problems.check(state == "absent" or not render_only,
                       "%s is empty. Set it to a pullable image reference, e.g. the image_built_ref of the "
                       "remotedev.jupyter.image role (playbooks/site.yml does this)." % s.var("image"))
        return
    reason = image_problem(image)
    problems.check(not reason, "%s: %s. Set it to a pullable image reference, e.g. the image_built_ref of the "
                               "remotedev.jupyter.image role (playbooks/site.yml does this)." % (s.var("image"), reason))


def check_env(problems, s, reserved=()):
    for reason in env_problems(s["env"], reserved):
        problems.add("%s%s." % (s.var("env"), reason))


def check_each(problems, s, name, reasons):
    """One problem per reason, each naming the variable."""
    for reason in reasons:
        problems.add("%s%s%s." % (s.var(name), "" if reason.startswith("[") else ": ", reason))


def check_quantity(problems, s, name, positive=True):
    reason = quantity_problem(s[name], positive)
    problems.check(not reason, "%s: %s." % (s.var(name), reason))


def check_optional_name(problems, s, name, rule=dns_subdomain_problem):
    """An optional object name (empty: none) that must follow `rule` when given."""
    if s[name]:
        reason = rule(s[name])
        problems.check(not reason, "%s: %s." % (s.var(name), reason))


def check_pod_values(problems, s):
    """What both components pass on to Kubernetes as given: labels, annotations,
    selectors, peers, tolerations, affinity, resources, sizes and names."""
    check_each(problems, s, "labels", labels_problems(s["labels"]))
    check_each(problems, s, "node_selector", labels_problems(s["node_selector"]))
    check_each(problems, s, "network_policy_ingress_namespace_labels",
               labels_problems(s["network_policy_ingress_namespace_labels"]))
    check_each(problems, s, "network_policy_ingress_pod_labels", labels_problems(s["network_policy_ingress_pod_labels"]))
    check_each(problems, s, "network_policy_extra_from", peers_problems(s["network_policy_extra_from"]))
    check_each(problems, s, "network_policy_dns_to", peers_problems(s["network_policy_dns_to"]))
    check_each(problems, s, "network_policy_egress_extra_to", peers_problems(s["network_policy_egress_extra_to"]))
    check_each(problems, s, "network_policy_egress_internet_except", cidrs_problems(s["network_policy_egress_internet_except"]))
    check_each(problems, s, "ingress_annotations", labels_problems(s["ingress_annotations"], values_are_labels=False))
    check_each(problems, s, "ingress_class_annotations", class_annotations_problems(s["ingress_class_annotations"]))
    check_each(problems, s, "tolerations", tolerations_problems(s["tolerations"]))
    reason = keys_problem(s["affinity"], AFFINITY_KEYS, "the mapping")
    problems.check(not reason, "%s: %s." % (s.var("affinity"), reason))
    check_each(problems, s, "resources", resources_problems(s["resources"]))
    # A component without a volume (the frontend) has no storage settings.
    for name in ("storage_size", "scratch_size_limit"):
        if s.get(name) is not None:
            check_quantity(problems, s, name)
    check_each(problems, s, "image_pull_secrets",
               ["[%d]: %s" % (i, dns_subdomain_problem(n)) for i, n in enumerate(s["image_pull_secrets"])
                if dns_subdomain_problem(n)])
    if s.get("storage_class") is not None:
        check_optional_name(problems, s, "storage_class")
    check_optional_name(problems, s, "ingress_class_name")
    reason = dns_subdomain_problem(s["cluster_domain"])
    problems.check(not reason, "%s: %s." % (s.var("cluster_domain"), reason))
    problems.check(0 < len(s["field_manager"]) <= 128 and not re.search(r"[\x00-\x1f]", s["field_manager"]),
                   "%s must be 1-128 characters without control characters (got %s)."
                   % (s.var("field_manager"), json.dumps(s["field_manager"])))


def pull_config_problem(config):
    """Why a Docker config JSON is not one a kubelet can use (None when it is);
    never quotes the value: it holds registry credentials."""
    try:
        parsed = json.loads(config)
    except ValueError:
        return "is not JSON"
    if not isinstance(parsed, dict) or not isinstance(parsed.get("auths"), dict) or not parsed["auths"]:
        return 'is not a Docker config ({"auths": {"<registry>": {"auth": "..."}}})'
    bad = sorted(str(k) for k, v in parsed["auths"].items() if not isinstance(v, dict))
    if bad:
        return "has auths entries that are not mappings (%s)" % ", ".join(bad)
    return None


def check_pull_config(problems, s):
    config = s["image_pull_dockerconfigjson"]
    if config:
        reason = pull_config_problem(config)
        problems.check(not reason, "%s %s (the value is not shown)." % (s.var("image_pull_dockerconfigjson"), reason))


def check_render_dest(problems, s):
    """The render writes on the controller (the action plugin's side): its directory must be there."""
    if not s["render_only"]:
        return
    dest = s["render_dest"]
    if not dest:
        problems.add("%s needs %s, the file to write the manifests to." % (s.var("render_only"), s.var("render_dest")))
        return
    directory = os.path.dirname(os.path.abspath(dest))
    problems.check(os.path.isdir(directory), "%s: the directory %s does not exist on the controller."
                   % (s.var("render_dest"), directory))
    problems.check(not os.path.isdir(dest), "%s: %s is a directory; name the file to write." % (s.var("render_dest"), dest))
