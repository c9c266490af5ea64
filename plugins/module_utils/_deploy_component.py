# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The base of every deployable component (PRIVATE, no public API).

A component turns its settings into objects; the engine (_deploy_engine)
applies them. What all components do alike is written here once: validation
of the shared settings, the preflight reads (namespace, StorageClass, image
pull secrets, the image running now), and the list of objects to remove."""

from __future__ import annotations

import secrets
import string

from ansible_collections.remotedev.jupyter.plugins.module_utils._deploy_common import (
    CHECKSUM_KEY,
    Problems,
    check_env,
    check_image,
    check_ingress,
    check_pod_values,
    check_pull_config,
    check_render_dest,
    common_labels,
    container_security_context,
    external_url,
    http_probes,
    kubectl_command,
    secret_object,
    selector_labels,
    service_url,
)


class PreflightError(Exception):
    """The cluster is not ready for this converge; nothing was changed."""


def generate_secret(length, alphabet):
    return "".join(secrets.choice(alphabet) for _position in range(length))


TOKEN_ALPHABET = string.ascii_lowercase + string.digits
PASSWORD_ALPHABET = string.ascii_letters + string.digits
CHECKSUM_KEY_LENGTH = 64
# What check mode shows as the image of a first deploy that names none (site.yml
# builds it in the same run): a preview must not stop on an image that does not
# exist yet. The API server accepts it in a dry run; a converge never applies it.
IMAGE_PLACEHOLDER = "<image built by site.yml, or set %s>"
PULL_SECRET_KEY = ".dockerconfigjson"


def checksum_key(existing):
    """The key of the pod's secret checksum: the one kept in the component's
    Secret, else a new one, generated once. Rotating it would roll the pod for
    nothing, so it stays until the Secret is removed."""
    return existing.get(CHECKSUM_KEY) or generate_secret(CHECKSUM_KEY_LENGTH, PASSWORD_ALPHABET)


class Component:
    """One instance of a deployable, from its role's variables (a Settings)."""

    prefix = ""  # the role's variable prefix
    app = ""  # app.kubernetes.io/name
    component = ""  # app.kubernetes.io/component
    container = ""  # name of the main container
    what = ""  # how messages name it
    data_volume = ""  # what the PVC holds, for messages
    url_path = "/"
    may_create_namespace = False

    def __init__(self, settings):
        self.s = settings
        self.name = settings["name"]
        self.namespace = settings["namespace"]
        self.instance = settings["instance"]
        self.selector = selector_labels(self.app, self.instance)
        self.labels = common_labels(self.app, self.instance, self.component, settings["labels"])
        self.facts = {}  # what preflight learned from the cluster
        self.warnings = []  # what validation let through but the user should know

    @property
    def title(self):
        return "%s %s/%s" % (self.what, self.namespace, self.name)

    @property
    def secret_name(self):
        return self.name

    @property
    def in_cluster_url(self):
        s = self.s
        return service_url(self.name, self.namespace, s["cluster_domain"], s["service_port"], self.url_path)

    @property
    def external_url(self):
        s = self.s
        return external_url(s["ingress_enabled"], s["ingress_hosts"], s["ingress_tls_secret"], self.url_path)

    @property
    def kubectl(self):
        """kubectl with the context the run used (the engine notes it once connected) and the namespace."""
        s = self.s
        return kubectl_command(self.namespace, self.facts.get("kube_context") or s["context"], s["kubeconfig"])

    # ------------------------------------------------------------ validation

    def validate(self):
        """Raise InvalidSettings naming every bad variable, before any change."""
        problems = Problems(self.s)
        self.check(problems)
        problems.raise_if_any()

    def check(self, problems):
        s = self.s
        for name in ("port", "service_port"):
            problems.in_range(name, 1, 65535)
        problems.in_range("replicas", 0, self.max_replicas, self.single_replica_reason)
        problems.in_range("wait_timeout", 1, 86400)
        problems.in_range("startup_timeout", 10, 86400)
        problems.in_range("uid", 1, 2147483647, " (never root)")
        problems.in_range("gid", 0, 2147483647)
        check_image(problems, s, s["render_only"], s["state"])
        check_ingress(problems, s)
        check_env(problems, s, self.reserved_env)
        check_pod_values(problems, s)
        check_render_dest(problems, s)
        check_pull_config(problems, s)

    single_replica_reason = ""
    # One unless the component keeps no state in its pods.
    max_replicas = 1
    # Environment variables the component sets itself, which the user's env must
    # not override: they carry its configuration and credentials.
    reserved_env = ()

    # ------------------------------------------------------------ preflight (read-only)

    def preflight(self, client, check_mode):
        """Read what the converge depends on; raise PreflightError when it cannot succeed."""
        s = self.s
        facts = self.facts
        facts["namespace_exists"] = client.get("v1", "Namespace", self.namespace) is not None
        if s["state"] != "present":
            return
        if not facts["namespace_exists"] and not (self.may_create_namespace or check_mode):
            raise PreflightError(self.missing_namespace_message())
        if s.get("storage_class") and client.get("storage.k8s.io/v1", "StorageClass", s["storage_class"]) is None:
            raise PreflightError(
                "StorageClass %s (%s) does not exist; the %s PVC would stay Pending. Nothing was changed."
                % (s["storage_class"], s.var("storage_class"), self.data_volume))
        self.check_pull_secrets(client, check_mode)
        facts["running_image"] = ""
        if not s["image"].strip() and facts["namespace_exists"]:
            running = client.get("apps/v1", "Deployment", self.name, self.namespace)
            containers = (((running or {}).get("spec") or {}).get("template") or {}).get("spec", {}).get("containers", [])
            facts["running_image"] = next((c.get("image", "") for c in containers if c.get("name") == self.container), "")
        if not self.image and check_mode:
            facts["running_image"] = IMAGE_PLACEHOLDER % s.var("image")
            self.warnings.append(
                "%s is empty and %s runs no image yet: the preview shows a placeholder image. Deploy it with "
                "playbooks/site.yml (builds the image, then deploys it) or set %s."
                % (s.var("image"), self.title, s.var("image")))
        elif not self.image:
            raise PreflightError(
                "%s is empty and %s runs no image yet to keep. On a first deploy run playbooks/site.yml (it builds "
                "the image and deploys it), or set %s to a pullable image reference (pin one in the inventory: "
                "build_image prints it). Nothing was changed." % (s.var("image"), self.title, s.var("image")))

    def missing_namespace_message(self):
        return "Namespace %s does not exist. Nothing was changed." % self.namespace

    def check_pull_secrets(self, client, check_mode=False):
        """The pull secrets the inventory names must exist before the first change;
        the one the role manages (image_pull_dockerconfigjson) is created after
        the namespace and before the Deployment, so it is not looked for."""
        s = self.s
        wanted = s["image_pull_secrets"]
        if not wanted:
            return
        if not self.facts["namespace_exists"]:
            raise PreflightError(
                "Namespace %s does not exist yet, so it holds none of the image pull secrets %s (%s)%s. Either give "
                "the registry's credentials in %s (the role then creates the Secret %s after the namespace and "
                "before the pods), or create the namespace and the Secrets first (the role adopts and labels an "
                "existing namespace). Nothing was changed."
                % (self.namespace, ", ".join(wanted), s.var("image_pull_secrets"),
                   " (a check-mode preview fails as the converge would)" if check_mode else "",
                   s.var("image_pull_dockerconfigjson"), self.pull_secret_name))
        missing = [n for n in wanted if client.get("v1", "Secret", n, self.namespace) is None]
        if missing:
            raise PreflightError(
                "Image pull secret(s) %s not found in namespace %s (%s); pods could not pull the image. "
                "Nothing was changed." % (", ".join(missing), self.namespace, s.var("image_pull_secrets")))

    @property
    def pull_secret_name(self):
        """The Secret of type kubernetes.io/dockerconfigjson the role manages."""
        return self.name + "-pull"

    @property
    def pull_secret_names(self):
        """imagePullSecrets of the pod: the managed one first, then the inventory's."""
        managed = [self.pull_secret_name] if self.s["image_pull_dockerconfigjson"] else []
        return managed + [n for n in self.s["image_pull_secrets"] if n not in managed]

    def pull_secret(self):
        """The managed pull Secret, or None without credentials."""
        config = self.s["image_pull_dockerconfigjson"]
        if not config:
            return None
        obj = secret_object(self.pull_secret_name, self.namespace, self.labels, {PULL_SECRET_KEY: config})
        obj["type"] = "kubernetes.io/dockerconfigjson"
        return obj

    @property
    def image(self):
        return self.s["image"].strip() or self.facts.get("running_image", "")

    def main_container(self, env, probe_path, resources, mounts):
        """The component's container: image, optional command and args, the http
        port, the user's env after the component's own, hardened, probed."""
        s = self.s
        container = {"name": self.container, "image": self.image, "imagePullPolicy": s["image_pull_policy"]}
        if s["command"]:
            container["command"] = s["command"]
        if s["args"]:
            container["args"] = s["args"]
        container["ports"] = [{"name": "http", "containerPort": s["port"], "protocol": "TCP"}]
        container["env"] = list(env) + list(s["env"])
        container["securityContext"] = container_security_context(s["read_only_root_filesystem"])
        container.update(http_probes(probe_path, s["startup_timeout"]))
        container["resources"] = resources
        container["volumeMounts"] = mounts
        return container

    # ------------------------------------------------------------ what subclasses provide

    def credentials(self, existing):
        """Resolve the secrets from the explicit settings and `existing` (the
        Secret's decoded data, {} when there is none)."""
        raise NotImplementedError

    def objects(self, creds):
        """Every object to apply, in apply order (the Secret included)."""
        raise NotImplementedError

    def optional_kinds(self):
        """[(apiVersion, kind, enabled)] of the objects that may be switched off."""
        s = self.s
        return [
            ("networking.k8s.io/v1", "Ingress", s["ingress_enabled"]),
            ("networking.k8s.io/v1", "NetworkPolicy", s["network_policy_enabled"]),
        ]

    def optional_named(self):
        """[(apiVersion, kind, name, enabled)] of objects with names of their own that may be switched off."""
        return [("v1", "Secret", self.pull_secret_name, bool(self.s["image_pull_dockerconfigjson"]))]

    def removable(self):
        """[(apiVersion, kind)] of every object teardown removes (not the PVC, not the
        namespace): the way in first, the Secret last."""
        return [
            ("networking.k8s.io/v1", "Ingress"),
            ("apps/v1", "Deployment"),
            ("v1", "Service"),
            ("networking.k8s.io/v1", "NetworkPolicy"),
            ("v1", "ConfigMap"),
            ("v1", "Secret"),
        ]

    def leftover_pod_labels(self):
        """[labels] of pods the component's pods create themselves, which teardown removes too."""
        return []

    def connection_base(self):
        """What every component's connection fact starts with."""
        return {
            "name": self.name,
            "namespace": self.namespace,
            "in_cluster_url": self.in_cluster_url,
            "external_url": self.external_url,
        }

    def connection(self, creds):
        raise NotImplementedError

    def summary(self, creds):
        raise NotImplementedError
