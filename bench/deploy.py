"""The deploy engine (remotedev.jupyter.instance, through playbooks/deploy.yml)
against a kubectl floor measured in the same run on the same cluster.

    bench/deploy.py                       20 instances (the local cluster, or $KUBECONFIG's)
    bench/deploy.py --instances 2 --json figures.json
    bench/deploy.py --image REF           skip the image role (else build_image.yml finds or builds it)

Both sides deploy the same objects: the floor applies the manifests that the
role's own render_only path produces (with the real Secret values, and the pod
template's checksum and digest of them, put back in place of the redacted
ones), the engine converges the same settings; the run checks that the
engine's objects match the floor's. Cases (--repeat R: the 1-instance case R
times, medians):

  1 instance    floor: kubectl apply --server-side -f <file> + kubectl rollout
                status + GET /api on the Service's ClusterIP until 200;
                engine: ansible-playbook deploy.yml (one host) + the same GET.
                Target: engine/floor <= 1.25.
  N instances   floor: the faster of `kubectl apply -f <dir>` (then N rollout
                status in parallel) and N `kubectl apply -f <file>` in parallel
                (each followed by its rollout status); then /api of all N;
                engine: one ansible-playbook run over N hosts with --forks N,
                then /api of all N. Target: <= 1.5.
  no-op re-run  the same playbook again: changed=0 on every host, and its time
                against the N-instance floor. Target: <= 0.5.

Also reported: peak RSS of the controller (the ansible-playbook process tree,
sampled every 0.2 s from /proc) during the N-instance converge.

Every case runs in namespaces of its own (bench-<random>-<case>); floor and
engine run one after the other, each phase's namespace is deleted (and the
deletion waited for) before the next, and all of them are deleted at the end,
also on failure (--keep: kept; between phases their Deployments are scaled to
0 instead). The image is pulled onto the node before the first measurement.
Not a test: nothing fails on a number unless --strict.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.playbook import PlaybookRun, ansible_env, kill_group, playbook_command  # noqa: E402
from tests.support.playbook import kubeconfig as cluster_kubeconfig  # noqa: E402

DEPLOY_PLAYBOOK = REPO / "playbooks" / "deploy.yml"
BUILD_IMAGE_PLAYBOOK = REPO / "playbooks" / "build_image.yml"
IMAGE_REF = re.compile(r"\S+/remotedev/[\w-]+:\w+")
REGISTRY = os.environ.get("REMOTEDEV_REGISTRY", "127.0.0.1:5000")
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"

FIELD_MANAGER = "bench"
TARGETS = {"one": 1.25, "many": 1.5, "noop": 0.5}
SAMPLE_INTERVAL = 0.2
API_POLL_INTERVAL = 0.1
TIMEOUT = 600
PLAYBOOK_TIMEOUT = 3600

# Small requests so that N Jupyter pods fit on one 2-core node; both sides
# deploy with exactly these.
RESOURCES = {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}}

# The roles' render_only path (as tests/deploy/playbooks/render.yml), over the
# bench inventory: one file per host, named after the host.
RENDER_PLAYBOOK = """\
---
- name: Render the Jupyter Server manifests of every bench instance
  hosts: jupyter_servers
  gather_facts: false
  tasks:
    - name: Render through the role's render_only path
      ansible.builtin.include_role:
        name: remotedev.jupyter.jupyter_server
      vars:
        jupyter_server_render_only: true
        jupyter_server_render_dest: "{{ render_dir }}/{{ inventory_hostname }}.yaml"
"""


class BenchError(Exception):
    """A step failed (not a missed target): the run cannot give figures."""


# ---------------------------------------------------------------- helpers


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def host_names(count: int) -> list[str]:
    width = max(2, len(str(count)))
    return [f"i{n:0{width}d}" for n in range(1, count + 1)]


def write_inventory(path: Path, hosts: list[str]) -> Path:
    lines = ["all:", "  children:", "    jupyter_servers:", "      hosts:"]
    for host in hosts:
        lines += [
            f"        {host}:",
            "          ansible_connection: local",
            "          ansible_python_interpreter: '{{ ansible_playbook_python }}'",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def secret_config_json() -> str:
    """The Secret's jupyter_server_config.json for an empty password hash, as
    the engine renders it (its own code when importable)."""
    sys.path.insert(0, str(REPO / ".collections"))
    try:
        from ansible_collections.remotedev.jupyter.plugins.module_utils._server_config import (  # pylint: disable=import-outside-toplevel
            prepare_settings,
            render,
        )

        settings = prepare_settings({"PasswordIdentityProvider": {"hashed_password": ""}})[0]
        return render(settings, "json")
    except Exception:  # pylint: disable=broad-except
        return json.dumps({"PasswordIdentityProvider": {"hashed_password": ""}}, indent=2) + "\n"
    finally:
        sys.path.remove(str(REPO / ".collections"))


# How the engine derives the pod template's secret checksum and digest label
# (_deploy_common.keyed_checksum and template_digest); a render redacts the
# checksum, and the digest with it. differences() below tells when these no
# longer match what the engine applies.
SECRET_CHECKSUM_ANNOTATION = "remotedev.jupyter/secret-checksum"
TEMPLATE_LABEL = "remotedev.jupyter/pod-template"
REDACTED = "REDACTED"


def keyed_checksum(key: str, *parts: str) -> str:
    return hmac.new(key.encode("utf-8"), json.dumps(list(parts)).encode("utf-8"), hashlib.sha256).hexdigest()


def template_digest(template: dict) -> str:
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode("utf-8")).hexdigest()[:32]


def unredact(documents: list[dict], secret: dict[str, str]) -> None:
    """Put the real Secret values (token, password-hash, json config, checksum key) in place of
    the redacted ones, and the pod template's checksum of them and its digest."""
    for doc in documents:
        if doc["kind"] == "Secret":
            unknown = set(doc["data"]) - set(secret)
            if unknown:
                raise BenchError(f"rendered Secret has keys this benchmark does not know: {sorted(unknown)}")
            doc["data"] = {k: base64.b64encode(secret[k].encode()).decode() for k in doc["data"]}
    for doc in documents:
        if doc["kind"] != "Deployment":
            continue
        template = doc["spec"]["template"]
        annotations = template["metadata"].get("annotations") or {}
        if annotations.get(SECRET_CHECKSUM_ANNOTATION) == REDACTED:
            annotations[SECRET_CHECKSUM_ANNOTATION] = keyed_checksum(
                secret["checksum-key"], secret["token"], secret["password-hash"], secret["jupyter_server_config.json"]
            )
            del template["metadata"]["labels"][TEMPLATE_LABEL]
            template["metadata"]["labels"][TEMPLATE_LABEL] = template_digest(template)


# ---------------------------------------------------------------- controller memory


class TreeRss(threading.Thread):
    """Samples the summed RSS of a process and all its descendants every
    SAMPLE_INTERVAL seconds; `peak` in bytes. RSS counts the pages the forks
    share with their parent once per process; `peak_pss` (proportional set
    size, each shared page split among its users) is what the tree really
    holds."""

    def __init__(self, root_pid: int):
        super().__init__(daemon=True)
        self.root = root_pid
        self.peak = 0
        self.peak_pss = 0
        self.samples = 0
        self._stop_event = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._children_files = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")

    def tree(self) -> list[int]:
        """The root and its descendants: through /proc/PID/task/TID/children
        (cheap: only the tree is read), else from every process's stat."""
        if not self._children_files:
            return self._tree_by_scan()
        found, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            found.append(pid)
            try:
                tasks = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            for tid in tasks:
                try:
                    with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as handle:
                        todo.extend(int(child) for child in handle.read().split())
                except OSError:
                    continue
        return found

    def _tree_by_scan(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", encoding="utf-8", errors="replace") as handle:
                    stat = handle.read()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
        found, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children.get(pid, []))
        return found

    def rss(self) -> int:
        total = 0
        for pid in self.tree():
            try:
                with open(f"/proc/{pid}/statm", encoding="utf-8") as handle:
                    total += int(handle.read().split()[1]) * self._page
            except (OSError, IndexError, ValueError):
                continue
        return total

    def pss(self) -> int:
        total = 0
        for pid in self.tree():
            try:
                with open(f"/proc/{pid}/smaps_rollup", encoding="utf-8") as handle:
                    for line in handle:
                        if line.startswith("Pss:"):
                            total += int(line.split()[1]) * 1024
                            break
            except (OSError, IndexError, ValueError):
                continue
        return total

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, self.rss())
            self.peak_pss = max(self.peak_pss, self.pss())
            self.samples += 1
            self._stop_event.wait(SAMPLE_INTERVAL)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


# ---------------------------------------------------------------- runs


@dataclass
class TimedRun:
    """One ansible-playbook run: its result (the JSON callback's report, read
    by tests/support/playbook.py), its wall time and the controller's memory."""

    result: PlaybookRun
    seconds: float
    peak_rss: int = 0
    peak_pss: int = 0


def run_playbook(playbook: Path, args: list[str], env: dict[str, str], log_path: Path, sample: bool = False) -> TimedRun:
    """One ansible-playbook run, timed from start to exit; its JSON report kept
    in log_path, its stderr in log_path + .stderr."""
    command = playbook_command(playbook, *args)
    err_path = log_path.with_name(log_path.name + ".stderr")
    with open(log_path, "w+", encoding="utf-8") as out, open(err_path, "w+", encoding="utf-8") as err:
        start = time.monotonic()
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            command,
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        sampler = TreeRss(proc.pid) if sample else None
        if sampler:
            sampler.start()
        try:
            rc = proc.wait(timeout=PLAYBOOK_TIMEOUT)
        except BaseException as exc:
            # Timed out or interrupted: the playbook and its forks go, before
            # the clean-up deletes the namespaces under them.
            kill_group(proc)
            proc.wait()
            if sampler:
                sampler.stop()
            if isinstance(exc, subprocess.TimeoutExpired):
                raise BenchError(f"{playbook.name} still running after {PLAYBOOK_TIMEOUT}s, output in {log_path}") from exc
            raise
        seconds = time.monotonic() - start
        if sampler:
            sampler.stop()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    try:
        result = PlaybookRun.parse(rc, stdout, stderr, command)
    except AssertionError as exc:
        raise BenchError(f"{playbook.name}: {exc}") from None
    return TimedRun(result, seconds, sampler.peak if sampler else 0, sampler.peak_pss if sampler else 0)


def checked(run: TimedRun, what: str, log_path: Path) -> TimedRun:
    if run.result.rc != 0:
        raise BenchError(f"{what} failed, output in {log_path}(.stderr):\n{run.result.summary()}")
    return run


def kubectl(*args: str, kubeconfig: str) -> None:
    proc = subprocess.run(
        [KUBECTL, *args],
        env=dict(os.environ, KUBECONFIG=kubeconfig),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise BenchError(f"kubectl {' '.join(args)} failed (rc {proc.returncode}):\n{proc.stdout[-3000:]}")


class Cluster:
    """The kubernetes client for what is not measured kubectl work: ClusterIPs,
    namespaces, the image warm-up."""

    def __init__(self, kubeconfig: str):
        from kubernetes import client, config  # pylint: disable=import-outside-toplevel

        configuration = client.Configuration()
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
        configuration.connection_pool_maxsize = 64
        self.api = client.ApiClient(configuration)
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.kubeconfig = kubeconfig

    def urls(self, namespace: str) -> dict[str, str]:
        """Service name -> http://ClusterIP:port/api for every Service of the namespace."""
        return {
            svc.metadata.name: f"http://{svc.spec.cluster_ip}:{svc.spec.ports[0].port}/api"
            for svc in self.core.list_namespaced_service(namespace).items
        }

    def url(self, namespace: str, name: str) -> str:
        svc = self.core.read_namespaced_service(name, namespace)
        return f"http://{svc.spec.cluster_ip}:{svc.spec.ports[0].port}/api"

    def exists(self, namespace: str) -> bool:
        from kubernetes.client.exceptions import ApiException  # pylint: disable=import-outside-toplevel

        try:
            self.core.read_namespace(namespace)
            return True
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise

    def delete_namespaces(self, namespaces: list[str], timeout: float = TIMEOUT) -> None:
        """Delete and wait until they are gone (their pods and volumes with them)."""
        from kubernetes.client.exceptions import ApiException  # pylint: disable=import-outside-toplevel

        for namespace in namespaces:
            try:
                self.core.delete_namespace(namespace)
            except ApiException as exc:
                if exc.status != 404:
                    raise
        deadline = time.monotonic() + timeout
        left = list(namespaces)
        while left:
            left = [n for n in left if self.exists(n)]
            if left and time.monotonic() > deadline:
                raise BenchError(f"namespaces still there after {timeout:.0f}s: {', '.join(left)}")
            if left:
                time.sleep(1)

    def quiesce(self, namespace: str, timeout: float = TIMEOUT) -> None:
        """--keep: the objects stay, the pods go (so that they do not load the next phase)."""
        for deployment in self.apps.list_namespaced_deployment(namespace).items:
            self.apps.patch_namespaced_deployment_scale(deployment.metadata.name, namespace, {"spec": {"replicas": 0}})
        deadline = time.monotonic() + timeout
        while self.core.list_namespaced_pod(namespace).items:
            if time.monotonic() > deadline:
                raise BenchError(f"pods of {namespace} still there after {timeout:.0f}s")
            time.sleep(1)

    def pull_image(self, namespace: str, image: str, timeout: float = TIMEOUT) -> None:
        """Get the image onto the node before any measurement: a pod that only
        has to start (whatever its command does afterwards)."""
        self.core.create_namespace({"metadata": {"name": namespace}})
        pod = {
            "metadata": {"name": "pull"},
            "spec": {
                "restartPolicy": "Never",
                "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [
                    {
                        "name": "pull",
                        "image": image,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["true"],
                        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                    }
                ],
            },
        }
        self.core.create_namespaced_pod(namespace, pod)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.core.read_namespaced_pod("pull", namespace).status
            for container in status.container_statuses or []:
                if container.image_id:
                    return
                waiting = container.state.waiting if container.state else None
                if waiting and waiting.reason in ("ErrImagePull", "ImagePullBackOff", "InvalidImageName"):
                    raise BenchError(f"cannot pull {image}: {waiting.reason}: {waiting.message}")
            time.sleep(1)
        raise BenchError(f"{image} not pulled after {timeout:.0f}s")


def wait_api(url: str, timeout: float = TIMEOUT) -> None:
    """GET url until it answers 200."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - http to a ClusterIP
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(API_POLL_INTERVAL)
    raise BenchError(f"{url} did not answer 200 within {timeout:.0f}s (last: {last})")


def in_parallel(jobs: list) -> list:
    """Run the callables at once (one thread each); re-raises the first failure."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
        futures = [pool.submit(job) for job in jobs]
        return [f.result() for f in futures]


# ---------------------------------------------------------------- the benchmark


class Bench:  # pylint: disable=too-many-instance-attributes
    def __init__(self, args, work: Path):
        self.args = args
        self.work = work
        try:
            self.kubeconfig = cluster_kubeconfig()
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            raise BenchError(f"no kubeconfig: {exc}") from exc
        if not Path(self.kubeconfig).is_file():
            raise BenchError(f"no kubeconfig at {self.kubeconfig}: start the local cluster (make cluster-up)")
        self.env = ansible_env(KUBECONFIG=self.kubeconfig)
        self.cluster = Cluster(self.kubeconfig)
        self.prefix = f"bench-{secrets.token_hex(3)}"
        self.token = secrets.token_hex(24)  # 48 characters
        self.created: list[str] = []
        self.hosts = host_names(args.instances)
        self.image = ""
        self.figures: dict = {"instances": args.instances, "cases": [], "details": {}}

    # ------------------------------------------------------------ set-up

    def namespace(self, case: str) -> str:
        name = f"{self.prefix}-{case}"
        self.created.append(name)
        return name

    def done_with(self, namespace: str) -> None:
        """Free the node before the next phase."""
        if self.args.keep:
            self.cluster.quiesce(namespace)
        else:
            self.cluster.delete_namespaces([namespace])

    def find_image(self) -> str:
        if self.args.image:
            return self.args.image
        if os.environ.get("REMOTEDEV_JUPYTER_IMAGE"):
            return os.environ["REMOTEDEV_JUPYTER_IMAGE"]
        log("image: the image role finds (by content tag) or builds the Jupyter image")
        # From the debootstrap base of make image-base, as make deploy builds it.
        extra = {"image_kind": "jupyter", "image_registry": REGISTRY, "image_push": True, "image_registry_tls": False,
                 "image_pip_base_image": f"{REGISTRY}/remotedev/debian:bookworm"}
        path = self.work / "build_image.log"
        run = checked(run_playbook(BUILD_IMAGE_PLAYBOOK, ["-e", json.dumps(extra)], self.env, path), "build_image.yml", path)
        ref = run.result.result("Show the image reference").get("msg", "")
        if not isinstance(ref, str) or not IMAGE_REF.fullmatch(ref):
            raise BenchError(f"no image reference from build_image.yml ({path}): {ref!r}")
        return ref

    def vars_file(self) -> str:
        """The settings both sides deploy with (the namespace comes on its own -e)."""
        path = self.work / "vars.json"
        path.write_text(
            json.dumps(
                {
                    "jupyter_server_image": self.image,
                    "jupyter_server_token": self.token,
                    "jupyter_server_resources": RESOURCES,
                }
            ),
            encoding="utf-8",
        )
        return f"@{path}"

    def render(self, namespace: str, hosts: list[str]) -> Path:
        """The manifests of `hosts` in `namespace`, rendered by the role (one file
        per host), with the real Secret values in place of the redacted ones."""
        out = self.work / f"render-{namespace}"
        out.mkdir()
        inventory = write_inventory(self.work / f"render-{namespace}.yml", hosts)
        playbook = self.work / "render.yml"
        playbook.write_text(RENDER_PLAYBOOK, encoding="utf-8")
        path = self.work / f"render-{namespace}.log"
        checked(
            run_playbook(
                playbook,
                ["-i", str(inventory), "--forks", str(max(5, len(hosts))), "-e", self.vars_file(),
                 "-e", f"jupyter_server_namespace={namespace}", "-e", f"render_dir={out}"],
                self.env,
                path,
            ),
            "rendering",
            path,
        )  # fmt: skip
        real = {"token": self.token, "password-hash": "", "jupyter_server_config.json": secret_config_json(),
                "checksum-key": secrets.token_hex(32)}
        for host in hosts:
            file = out / f"{host}.yaml"
            documents = [d for d in yaml.safe_load_all(file.read_text(encoding="utf-8")) if d]
            unredact(documents, real)
            file.write_text(yaml.safe_dump_all(documents, sort_keys=False), encoding="utf-8")
        return out

    # ------------------------------------------------------------ floor

    def floor_instance(self, namespace: str, host: str, file: Path | None) -> None:
        """[kubectl apply of one file], rollout status, /api."""
        if file is not None:
            kubectl("apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "-f", str(file), kubeconfig=self.kubeconfig)
        kubectl("rollout", "status", f"deployment/jupyter-{host}", "-n", namespace, f"--timeout={TIMEOUT}s",
                kubeconfig=self.kubeconfig)  # fmt: skip
        wait_api(self.cluster.url(namespace, f"jupyter-{host}"))

    def floor_dir(self, namespace: str, rendered: Path, hosts: list[str]) -> float:
        """One `kubectl apply -f <dir>`, then rollout status and /api of every instance in parallel."""
        start = time.monotonic()
        kubectl("apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "-f", str(rendered), kubeconfig=self.kubeconfig)
        in_parallel([lambda h=h: self.floor_instance(namespace, h, None) for h in hosts])
        return time.monotonic() - start

    def floor_parallel(self, namespace: str, rendered: Path, hosts: list[str]) -> float:
        """N `kubectl apply -f <file>` at once, each followed by its rollout status and /api."""
        start = time.monotonic()
        in_parallel([lambda h=h: self.floor_instance(namespace, h, rendered / f"{h}.yaml") for h in hosts])
        return time.monotonic() - start

    # ------------------------------------------------------------ engine

    def engine(self, namespace: str, hosts: list[str], name: str, sample: bool = False) -> TimedRun:
        """deploy.yml over the N `hosts` (--forks N), then /api of every instance in parallel;
        seconds covers both."""
        inventory = write_inventory(self.work / f"inventory-{name}.yml", hosts)
        path = self.work / f"{name}.log"
        start = time.monotonic()
        run = run_playbook(
            DEPLOY_PLAYBOOK,
            ["-i", str(inventory), "--forks", str(len(hosts)), "-e", self.vars_file(),
             "-e", f"jupyter_server_namespace={namespace}"],
            self.env,
            path,
            sample=sample,
        )  # fmt: skip
        checked(run, f"deploy.yml ({name})", path)
        missing = set(hosts) - set(run.result.stats)
        if missing:
            raise BenchError(f"no stats for {sorted(missing)} in the report {path}")
        urls = self.cluster.urls(namespace)
        in_parallel([lambda h=h: wait_api(urls[f"jupyter-{h}"]) for h in hosts])
        run.seconds = time.monotonic() - start
        return run

    def differences(self, namespace: str, rendered: Path) -> list[str]:
        """Where the engine's objects in `namespace` differ from the floor's rendered
        file (namespace aside): Secret and ConfigMap data, the pod template's
        labels and annotations (its digest and the config and secret checksums),
        the container's image and resources."""
        documents = {d["kind"]: d for d in yaml.safe_load_all(rendered.read_text(encoding="utf-8")) if d}
        name = documents["Deployment"]["metadata"]["name"]
        found = []
        secret = self.cluster.core.read_namespaced_secret(name, namespace).data or {}
        if secret != documents["Secret"]["data"]:
            found.append("Secret data")
        config = self.cluster.core.read_namespaced_config_map(name, namespace).data or {}
        if config != documents["ConfigMap"]["data"]:
            found.append("ConfigMap data")
        live = self.cluster.apps.read_namespaced_deployment(name, namespace).spec.template
        template = documents["Deployment"]["spec"]["template"]
        for key, have in (("labels", live.metadata.labels or {}), ("annotations", live.metadata.annotations or {})):
            want = template["metadata"].get(key) or {}
            if any(have.get(k) != v for k, v in want.items()):
                found.append(f"pod template {key}")
        container = template["spec"]["containers"][0]
        if live.spec.containers[0].image != container["image"]:
            found.append("image")
        resources = self.cluster.api.sanitize_for_serialization(live.spec.containers[0].resources)
        if resources != container["resources"]:
            found.append("resources")
        return found

    # ------------------------------------------------------------ cases

    def case(self, name: str, key: str, floor: float, engine: float, note: str = "", passed: bool | None = None) -> None:
        ratio = engine / floor
        ok = ratio <= TARGETS[key] and (passed is None or passed)
        self.figures["cases"].append(
            {"case": name, "floor_s": round(floor, 2), "engine_s": round(engine, 2), "ratio": round(ratio, 3),
             "target": TARGETS[key], "pass": ok, "note": note}
        )  # fmt: skip
        log(f"{name}: floor {floor:.1f}s, engine {engine:.1f}s, ratio {ratio:.2f} (target <= {TARGETS[key]})")

    def run(self) -> None:
        details = self.figures["details"]
        self.image = self.find_image()
        details.update(image=self.image, kubectl=KUBECTL, cpus=os.cpu_count(), token_length=len(self.token))
        log(f"image {self.image}; namespaces {self.prefix}-*")

        one = self.hosts[:1]
        ns_floor_dir, ns_floor_par = self.namespace("floor-dir"), self.namespace("floor-par")
        log("rendering the floor's manifests (the role's render_only path)")
        rendered_dir = self.render(ns_floor_dir, self.hosts)
        rendered_par = self.render(ns_floor_par, self.hosts)
        rendered_one = {}  # round suffix -> (namespace, rendered directory)
        for round_ in range(1, self.args.repeat + 1):
            suffix = "" if self.args.repeat == 1 else f"-r{round_}"
            namespace = self.namespace("floor-1" + suffix)
            rendered_one[suffix] = (namespace, self.render(namespace, one))

        warm = self.namespace("warmup")
        log("warm-up: pulling the image onto the node")
        self.cluster.pull_image(warm, self.image)
        self.cluster.delete_namespaces([warm])
        details["load_average_start"] = os.getloadavg()

        # ---- one instance: floor and engine in turn, --repeat times (median)
        floors, engines = [], []
        for suffix, (ns_floor_one, rendered) in rendered_one.items():
            log(f"floor, 1 instance{suffix}")
            start = time.monotonic()
            self.floor_instance(ns_floor_one, one[0], rendered / f"{one[0]}.yaml")
            floors.append(time.monotonic() - start)
            self.done_with(ns_floor_one)
            log(f"engine, 1 instance{suffix}")
            ns_engine_one = self.namespace("engine-1" + suffix)
            engines.append(self.engine(ns_engine_one, one, "engine-1" + suffix).seconds)
            if len(engines) == 1:
                diffs = self.differences(ns_engine_one, rendered / f"{one[0]}.yaml")
                details["engine_objects_differ_from_floor"] = diffs
                if diffs:
                    log("WARNING: the engine deployed other objects than the floor: " + ", ".join(diffs))
            self.done_with(ns_engine_one)
        details.update(floor_1_samples_s=[round(x, 2) for x in floors], engine_1_samples_s=[round(x, 2) for x in engines])
        note = "" if self.args.repeat == 1 else f"median of {self.args.repeat} rounds"
        self.case("1 instance", "one", statistics.median(floors), statistics.median(engines), note)

        # ---- N instances
        n = len(self.hosts)
        log(f"floor, {n} instances: one kubectl apply -f <dir>")
        floor_dir = self.floor_dir(ns_floor_dir, rendered_dir, self.hosts)
        self.done_with(ns_floor_dir)
        log(f"floor, {n} instances: {n} kubectl apply -f <file> in parallel")
        floor_par = self.floor_parallel(ns_floor_par, rendered_par, self.hosts)
        self.done_with(ns_floor_par)
        floor_n = min(floor_dir, floor_par)
        faster = "apply -f dir" if floor_dir <= floor_par else f"{n} applies in parallel"
        details.update(floor_dir_s=round(floor_dir, 2), floor_parallel_s=round(floor_par, 2), floor_used=faster)

        log(f"engine, {n} instances (--forks {n})")
        ns_engine_n = self.namespace(f"engine-{n}")
        engine_n = self.engine(ns_engine_n, self.hosts, f"engine-{n}", sample=True)
        details["controller_peak_rss_mib"] = round(engine_n.peak_rss / 2**20, 1)
        details["controller_peak_pss_mib"] = round(engine_n.peak_pss / 2**20, 1)
        self.case(f"{n} instances", "many", floor_n, engine_n.seconds,
                  f"floor: {faster} (dir {floor_dir:.1f}s, parallel {floor_par:.1f}s)")  # fmt: skip

        log(f"engine, no-op re-run over the {n} instances")
        noop = self.engine(ns_engine_n, self.hosts, "noop", sample=True)
        changed = {h: noop.result.changed(h) for h in self.hosts}
        details.update(noop_changed=changed, noop_peak_rss_mib=round(noop.peak_rss / 2**20, 1),
                       noop_peak_pss_mib=round(noop.peak_pss / 2**20, 1))
        all_zero = not any(changed.values())
        self.case(
            f"no-op re-run ({n})",
            "noop",
            floor_n,
            noop.seconds,
            "changed=0 on every host" if all_zero else "CHANGED: " + ", ".join(f"{h}={c}" for h, c in changed.items() if c),
            passed=all_zero,
        )
        details["load_average_end"] = os.getloadavg()

    def cleanup(self) -> None:
        if self.args.keep:
            log("--keep: namespaces kept: " + " ".join(self.created))
            return
        left = [n for n in self.created if self.cluster.exists(n)]
        if left:
            log("deleting " + " ".join(left))
            self.cluster.delete_namespaces(left)


def table(figures: dict) -> str:
    head = f"{'case':<22} {'floor s':>8} {'engine s':>9} {'ratio':>6} {'target':>8}  result"
    lines = [head, "-" * len(head)]
    for c in figures["cases"]:
        lines.append(
            f"{c['case']:<22} {c['floor_s']:>8.1f} {c['engine_s']:>9.1f} {c['ratio']:>6.2f} {'<= ' + str(c['target']):>8}  "
            f"{'pass' if c['pass'] else 'FAIL'}"
        )
    d = figures["details"]
    lines.append("")
    for c in figures["cases"]:
        if c["note"]:
            lines.append(f"{c['case']}: {c['note']}")
    if "controller_peak_rss_mib" in d:
        lines.append(
            f"controller peak RSS (ansible-playbook tree, {SAMPLE_INTERVAL}s samples): {d['controller_peak_rss_mib']:.0f} MiB "
            f"during the {figures['instances']}-instance converge, {d.get('noop_peak_rss_mib', 0):.0f} MiB during the no-op re-run"
        )
    if "controller_peak_pss_mib" in d:
        lines.append(
            f"controller peak PSS (shared pages split among the forks): {d['controller_peak_pss_mib']:.0f} MiB "
            f"during the {figures['instances']}-instance converge, {d.get('noop_peak_pss_mib', 0):.0f} MiB during the no-op re-run"
        )
    if "engine_objects_differ_from_floor" in d:
        diffs = d["engine_objects_differ_from_floor"]
        lines.append("objects: " + ("the engine deployed what the floor applied (namespace aside)" if not diffs
                                    else "WARNING, the engine's differ from the floor's: " + ", ".join(diffs)))
    if "load_average_start" in d:
        lines.append(
            "load average (1 min) at the start / end: %.1f / %.1f; %s CPUs"
            % (d["load_average_start"][0], d.get("load_average_end", [float("nan")])[0], d["cpus"])
        )
    lines.append(f"image {d.get('image')}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=20, metavar="N", help="instances of the N-instance cases (default 20)")
    parser.add_argument("--image", default="", help="Jupyter image reference (default: $REMOTEDEV_JUPYTER_IMAGE, else build_image.yml)")
    parser.add_argument("--repeat", type=int, default=1, metavar="R",
                        help="1-instance case: R rounds of floor then engine, medians reported (default 1)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    parser.add_argument("--keep", action="store_true", help="keep the namespaces (their Deployments scaled to 0 between phases)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    if args.instances < 1 or args.repeat < 1:
        parser.error("--instances and --repeat must be >= 1")

    # make's Ctrl-C and a plain kill: the clean-up in `finally` runs either way.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    work = Path(tempfile.mkdtemp(prefix="bench-deploy-"))
    bench = None
    failed = False
    try:
        bench = Bench(args, work)
        bench.run()
    except BenchError as exc:
        failed = True
        print(f"bench/deploy.py: {exc}", file=sys.stderr)
    except BaseException:
        failed = True
        raise
    finally:
        if bench is not None:
            try:
                bench.cleanup()
            except Exception as exc:  # pylint: disable=broad-except
                failed = True
                print(f"bench/deploy.py: cleanup failed: {exc}", file=sys.stderr)
        if failed or args.keep:
            log(f"logs and rendered manifests kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    if failed:
        return 2
    print(table(bench.figures))
    if args.json:
        Path(args.json).write_text(json.dumps(bench.figures, indent=2) + "\n", encoding="utf-8")
    missed = [c["case"] for c in bench.figures["cases"] if not c["pass"]]
    if missed and args.strict:
        print(f"missed: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
