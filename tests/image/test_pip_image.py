"""The proof of the pip flavor, once per builder (podman, and Debian's dockerd
through the Docker SDK): the role builds the image offline from the
debootstrap base and pushes it to the local registry; a second run changes
nothing and builds nothing; the image pulled back from the registry runs as
uid 1000 under tini on a read-only root filesystem, lists every configured
kernel, runs code in each kernel's own interpreter, passes its health check,
and answers kernel requests without Nagle's delay."""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import yaml

from conftest import REGISTRY, REPO, RUN_ID, Engine, free_port_pair, run_role
from jupyter_probe import KernelSocket, api, p50, wait_for_api

KERNELS = [
    {"name": "python3", "display_name": "Python 3 (base)"},
    # A second environment with a package the first lacks and its own env var.
    {"name": "tools", "display_name": "Python 3 (tools)", "packages": ["six"], "env": {"REMOTEDEV_KERNEL": "tools"}},
]
USER_HOME = "/home/jovyan"
# image_pod_kernels per builder: podman builds what Molecule's prepare builds
# (the pod kernels' provisioner included, so prepare finds every layer cached);
# the Docker build proves the plain image.
POD_KERNELS = {"podman": True, "docker": False}


def test_molecule_builds_this_image():
    """Molecule's prepare builds the Jupyter image with podman from its
    inventory; with the same settings as the podman build here, every layer
    is in podman's cache by then (one image build per run)."""
    scenario = yaml.safe_load((REPO / "extensions/molecule/default/molecule.yml").read_text())
    inventory = scenario["provisioner"]["inventory"]["group_vars"]["all"]
    assert inventory["image_kernels"] == KERNELS
    # The same base as the base_image fixture's (not the role's public default).
    assert inventory["image_pip_base_image"] == f"{REGISTRY}/remotedev/debian:bookworm"
    assert (inventory["image_builder"], inventory["image_flavor"]) == ("podman", "pip")
    # The neighbour's pod kernels need the provisioner in the image: the podman build here has it too.
    assert inventory["image_pod_kernels"] is POD_KERNELS["podman"]


def role_vars(builder: str, registry: str, base_image: str, dockerd: str | None, **extra) -> dict:
    variables = {
        "image_builder": builder,
        "image_registry": registry,
        "image_registry_tls": False,
        "image_push": True,
        "image_repository": f"remotedev-test/{RUN_ID}/jupyter-pip-{builder}",
        "image_kernels": KERNELS,
        "image_pip_base_image": base_image,
    }
    if builder == "docker":
        variables["image_docker_host"] = dockerd
    variables["image_pod_kernels"] = POD_KERNELS[builder]
    variables.update(extra)
    return variables


@pytest.fixture(scope="module", params=["podman", "docker"])
def built(request, registry, base_image):
    builder = request.param
    dockerd = request.getfixturevalue("dockerd") if builder == "docker" else None
    variables = role_vars(builder, registry, base_image, dockerd)
    started = time.monotonic()
    first = run_role(variables)
    first_seconds = time.monotonic() - started
    assert first.rc == 0, first.failure or first.output[-3000:]
    engine = Engine(builder)
    image_id = engine.image_id(first.facts["ref"])
    started = time.monotonic()
    second = run_role(variables)
    second_seconds = time.monotonic() - started
    print(f"\n[{builder}] first role run {first_seconds:.1f} s, second {second_seconds:.1f} s")
    return {
        "builder": builder, "engine": engine, "vars": variables, "first": first, "second": second,
        "image_id": image_id,
    }


def test_first_run_builds_and_pushes(built, registry):
    first, variables = built["first"], built["vars"]
    assert first.changed() > 0
    assert first.ran(f"Build with {built['builder']}:") and first.ran("Push: ")
    facts = first.facts
    assert facts["tag"] == facts["hash"][:16]
    assert facts["ref"] == f"{registry}/{variables['image_repository']}:{facts['tag']}"
    assert facts["digest"].startswith("sha256:")
    # What site.yml deploys: the tag for people, the digest for the runtime.
    assert facts["pinned"] == facts["ref"] + "@" + facts["digest"]
    # The registry has the tag, with the digest the role reported.
    manifest = api(f"http://{registry}/", f"v2/{variables['image_repository']}/tags/list")
    assert facts["tag"] in manifest["tags"]


def test_second_run_changes_nothing(built):
    first, second = built["first"], built["second"]
    assert second.rc == 0, second.failure
    assert second.changed() == 0, [t.task for t in second.tasks if t.changed]
    # Found in the registry, not built: the same pinned reference (no roll on a re-run).
    assert second.facts["pinned"] == first.facts["pinned"]
    assert not second.ran(f"Build with {built['builder']}:"), "the second run must not build"
    assert not second.ran("Push: "), "the second run must not push"
    assert second.facts == first.facts
    assert built["engine"].image_id(first.facts["ref"]) == built["image_id"]


def test_check_mode_reports_no_change(built):
    checked = run_role(built["vars"], check_mode=True)
    assert checked.rc == 0, checked.failure
    assert checked.changed() == 0
    assert checked.facts["ref"] == built["first"].facts["ref"]


def test_content_change_gives_new_tag(built, registry):
    """A changed context (one display name) is a new tag; the old one stays."""
    kernels = [dict(KERNELS[0], display_name="Python 3 (renamed)"), KERNELS[1]]
    checked = run_role(dict(built["vars"], image_kernels=kernels), check_mode=True)
    assert checked.rc == 0, checked.failure
    assert checked.changed() > 0, "check mode must report the build a changed context needs"
    assert checked.facts["tag"] != built["first"].facts["tag"]
    tags = api(f"http://{registry}/", f"v2/{built['vars']['image_repository']}/tags/list")["tags"]
    assert checked.facts["tag"] not in tags, "check mode must not push"


@pytest.fixture(scope="module")
def container(built):
    """The image pulled back from the registry and started the way a pod with
    readOnlyRootFilesystem runs it: read-only root, writable HOME and /tmp,
    the notebooks directory on a volume."""
    engine, ref = built["engine"], built["first"].facts["ref"]
    engine.remove_image(ref)
    engine.pull(ref)
    port, port_stock = free_port_pair()
    token = uuid.uuid4().hex
    work = Path(tempfile.mkdtemp(prefix="jupyter-work-"))
    os.chown(work, 1000, 100)
    names = []

    def start(name, port, *server_args):
        # A writable HOME owned by the user (podman: U chowns to the image's user).
        home_options = "rw,mode=2775,U" if engine.name == "podman" else "rw,uid=1000,gid=100,mode=2775"
        args = ["run", "-d", "--name", name, "--network", "host", "--read-only",
                "--tmpfs", "/tmp:rw,mode=1777", "--tmpfs", f"{USER_HOME}:{home_options}",
                "-v", f"{work}:{USER_HOME}/work"]
        if engine.name == "docker":
            args += ["--health-interval", "2s", "--health-start-period", "1s"]
        args += [ref, "jupyter", "server", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
                 f"--IdentityProvider.token={token}", *server_args]
        engine(*args)
        names.append(name)
        url = f"http://127.0.0.1:{port}/"
        try:
            wait_for_api(url, timeout=90)
        except Exception:
            print(engine("logs", name, check=False).stderr[-3000:])
            raise
        return url

    suffix = uuid.uuid4().hex[:8]
    url = start(f"jupyter-test-{suffix}", port)
    # The same image with the extension switched off: the stock server.
    url_stock = start(f"jupyter-stock-{suffix}", port_stock, "--ServerApp.jpserver_extensions=remotedev_nodelay=False")
    yield {"engine": engine, "name": names[0], "url": url, "url_stock": url_stock, "token": token, "work": work}
    for name in names:
        engine("rm", "-f", name, check=False)


def test_runs_as_uid_1000_under_tini(container):
    engine, name = container["engine"], container["name"]
    assert engine("exec", name, "cat", "/proc/1/comm").stdout.strip() == "tini"
    processes = engine("exec", name, "ps", "-eo", "uid=,comm=").stdout.split("\n")
    processes = [line.split(None, 1) for line in processes if line.strip()]
    assert {uid for uid, dummy in processes} == {"1000"}, processes
    assert any("jupyter" in comm for dummy, comm in processes), processes
    assert engine("exec", name, "id", "-Gn").stdout.split() == ["users"]
    # No way up: no sudo, and the image's own files are not the user's.
    assert engine("exec", name, "sh", "-c", "command -v sudo", check=False).returncode != 0
    assert engine("exec", name, "stat", "-c", "%u", "/opt/jupyter/bin/python3").stdout.strip() == "0"


def test_kernelspecs_in_sys_prefix(container):
    engine, name = container["engine"], container["name"]
    specs = json.loads(engine("exec", name, "jupyter", "kernelspec", "list", "--json").stdout)["kernelspecs"]
    assert set(specs) == {k["name"] for k in KERNELS}
    for kernel in KERNELS:
        spec = specs[kernel["name"]]
        assert spec["resource_dir"] == f"/opt/jupyter/share/jupyter/kernels/{kernel['name']}"
        assert spec["spec"]["argv"][0] == f"/opt/kernels/{kernel['name']}/bin/python"
        assert spec["spec"]["display_name"] == kernel["display_name"]
    assert specs["tools"]["spec"]["env"] == {"REMOTEDEV_KERNEL": "tools"}
    # Through the server, as clients see it.
    served = api(container["url"], "api/kernelspecs", container["token"])
    assert set(served["kernelspecs"]) == {k["name"] for k in KERNELS}
    assert served["default"] == "python3"


def test_each_kernel_runs_its_own_interpreter(container):
    code = ("import os, sys\nprint(sys.executable)\nprint(os.environ.get('REMOTEDEV_KERNEL'))\n"
            "try:\n    import six\n    print('six')\nexcept ImportError:\n    print('no six')\n"
            "print(os.getcwd())\nopen('written-by-' + os.path.basename(sys.prefix), 'w').write('x')")
    for kernel in KERNELS:
        with KernelSocket(container["url"], container["token"], kernel["name"]) as socket:
            out = socket.execute(code)
        assert out["status"] == "ok", out
        lines = out["stdout"].split("\n")
        assert lines[0] == f"/opt/kernels/{kernel['name']}/bin/python"
        assert lines[1] == kernel.get("env", {}).get("REMOTEDEV_KERNEL", "None")
        assert lines[2] == ("six" if kernel["name"] == "tools" else "no six")
        assert lines[3] == f"{USER_HOME}/work"
        written = container["work"] / f"written-by-{kernel['name']}"
        assert written.exists() and written.stat().st_uid == 1000


def test_healthcheck_passes(container):
    engine, name = container["engine"], container["name"]
    if engine.name == "podman":
        result = engine("healthcheck", "run", name, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
    else:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline:
            status = engine("inspect", "--format", "{{.State.Health.Status}}", name).stdout.strip()
            if status == "healthy":
                break
            time.sleep(1)
        assert status == "healthy", engine("inspect", "--format", "{{json .State.Health}}", name).stdout


def test_kernel_websocket_without_nagle_delay(container):
    """Through the image: the extension-enabled server against the same image
    with the extension off, in the same run."""
    samples = {}
    for label, url in (("stock", container["url_stock"]), ("nodelay", container["url"])):
        with KernelSocket(url, container["token"]) as socket:
            samples[label] = p50(socket.roundtrips(60))
    ratio = samples["nodelay"] / samples["stock"]
    print(f"\n[{container['engine'].name}] image round-trip p50: stock {samples['stock'] * 1e3:.1f} ms, "
          f"nodelay {samples['nodelay'] * 1e3:.1f} ms, ratio {ratio:.2f}")
    assert ratio <= 0.5, samples
