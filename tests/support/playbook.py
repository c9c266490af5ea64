"""One way for the tests and the benchmarks to run Ansible and read its result.

    from tests.support.playbook import kubeconfig, run_module, run_playbook

    run = run_playbook(REPO / "playbooks/deploy.yml", "-i", inventory, extra_vars={...}, env={"KUBECONFIG": kubeconfig()})
    assert run.rc != 0 and "is out of range" in run.failure
    run_module("remotedev.jupyter.password_hash", {"password": "x"}).check().result()["hash"]

Every run uses this checkout's ansible.cfg (so the collection is found by
FQCN through .collections), the ansible-playbook and ansible of the running
virtualenv, and the JSON stdout callback: a run is read from the callback's
document (PlaybookRun), never from the text Ansible prints for people.

`kubeconfig()` is the one place the tests and benchmarks look up the
cluster: $KUBECONFIG when set, else the local cluster tool's.

Callers put the repository root on sys.path and import this as
tests.support.playbook (tests/ itself is no package).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
ANSIBLE = VENV_BIN / "ansible"
ANSIBLE_PLAYBOOK = VENV_BIN / "ansible-playbook"
# As the Makefile's CACHE_DIR: where the image role keeps wheels and the
# cluster tool its state.
CACHE_DIR = Path(
    os.environ.get("REMOTEDEV_CACHE_DIR")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "remotedev-jupyter"
)
# The local cluster tool, where it lives now and where it used to live.
CLUSTER_TOOL = "tools/localcluster/cluster.py"
PLAYBOOK_TIMEOUT = 1800
MODULE_TIMEOUT = 600
TAIL = 3000


def ansible_env(**extra: str) -> dict[str, str]:
    """The environment of every Ansible run: this process's, with this
    checkout's ansible.cfg, the JSON callback (also for ad-hoc `ansible`), no
    colour, no retry files, the virtualenv's bin first on PATH (the image role
    runs the venv's tools) and its Python as the interpreter, the cache
    directory of the Makefile; then `extra`."""
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_CALLBACK_RESULT_FORMAT="json",
        ANSIBLE_JSON_INDENT="4",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_LOCALHOST_WARNING="0",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        PYTHONUNBUFFERED="1",
        REMOTEDEV_CACHE_DIR=str(CACHE_DIR),
        PATH=str(VENV_BIN) + os.pathsep + os.environ.get("PATH", ""),
    )
    env.update(extra)
    return env


def flags(check: bool = False, diff: bool = False, verbosity: int = 0) -> list[str]:
    """--check, --diff and -v... as the arguments say."""
    found = []
    if check:
        found.append("--check")
    if diff:
        found.append("--diff")
    if verbosity:
        found.append("-" + "v" * verbosity)
    return found


def playbook_command(playbook, *args: str, check: bool = False, diff: bool = False, verbosity: int = 0) -> list[str]:
    """The ansible-playbook command line (for callers that run the process
    themselves, as bench/deploy.py does to time and sample it)."""
    return [str(ANSIBLE_PLAYBOOK), str(playbook), *map(str, args), *flags(check, diff, verbosity)]


def run_playbook(
    playbook,
    *args: str,
    extra_vars: dict | None = None,
    check: bool = False,
    diff: bool = False,
    verbosity: int = 0,
    env: dict[str, str] | None = None,
    timeout: float = PLAYBOOK_TIMEOUT,
) -> PlaybookRun:
    """ansible-playbook `playbook` `args`, from the repository root.
    `extra_vars` go in through a JSON file (-e @file, readable by the owner
    only); `env` is added to ansible_env()."""
    with tempfile.TemporaryDirectory(prefix="ansible-run-") as tmp:
        more = []
        if extra_vars is not None:
            path = Path(tmp) / "extra_vars.json"
            path.touch(mode=0o600)
            path.write_text(json.dumps(extra_vars), encoding="utf-8")
            more = ["-e", f"@{path}"]
        command = playbook_command(playbook, *args, *more, check=check, diff=diff, verbosity=verbosity)
        return run_command(command, env=env, timeout=timeout)


def run_module(
    module: str,
    args: dict | str | None = None,
    *more: str,
    pattern: str = "localhost",
    check: bool = False,
    diff: bool = False,
    verbosity: int = 0,
    env: dict[str, str] | None = None,
    timeout: float = MODULE_TIMEOUT,
) -> PlaybookRun:
    """`ansible localhost -m module -a args` (a dict goes as JSON); `more`
    are further arguments of `ansible`."""
    command = [str(ANSIBLE), pattern, "-m", module]
    if args is not None:
        command += ["-a", args if isinstance(args, str) else json.dumps(args)]
    command += [*map(str, more), *flags(check, diff, verbosity)]
    return run_command(command, env=env, timeout=timeout)


def run_command(command: list[str], env: dict[str, str] | None = None, timeout: float = PLAYBOOK_TIMEOUT) -> PlaybookRun:
    """Run an Ansible command line in its own process group (a timeout or an
    interrupt ends its forks too) and read the JSON callback's document."""
    with subprocess.Popen(  # the repository root: relative paths in inventories and ansible.cfg
        command,
        cwd=str(REPO),
        env=ansible_env(**(env or {})),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(process)
            stdout, stderr = process.communicate()
            raise AssertionError(
                f"{' '.join(command)} still running after {timeout:.0f}s, killed\n"
                f"stdout:\n{stdout[-TAIL:]}\nstderr:\n{stderr[-TAIL:]}"
            ) from None
        except BaseException:
            kill_group(process)
            process.wait()
            raise
    return PlaybookRun.parse(process.returncode, stdout, stderr, command)


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL to the process group `process` leads (start_new_session)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class TaskResult:
    """One host's result of one task, or of one loop item of it."""

    task: str  # the task's name as Ansible gives it ("role : name" in a role)
    host: str
    result: dict
    failed: bool  # or unreachable

    def get(self, key: str, default=None):
        return self.result.get(key, default)

    @property
    def changed(self) -> bool:
        return bool(self.result.get("changed"))

    @property
    def skipped(self) -> bool:
        return bool(self.result.get("skipped")) or "skip_reason" in self.result

    @property
    def msg(self) -> str:
        return as_text(self.result.get("msg", ""))


def flatten(task: str, host: str, result: dict) -> list[TaskResult]:
    """One host's result of a task: itself, or its loop items. The callback
    marks a failed result with `failed`; loop items lose that mark (since
    ansible-core 2.19), a failed item of a failed loop keeps its `exception`
    (the failure's, also of a failed_when) instead."""
    items = loop_items(result)
    if items is None:
        return [TaskResult(task, host, result, bool(result.get("failed") or result.get("unreachable")))]
    return [TaskResult(task, host, item, item_failed(result, item)) for item in items]


def item_failed(loop: dict, item: dict) -> bool:
    if "failed" in item:
        return bool(item["failed"])
    if item.get("unreachable"):
        return True
    return bool(loop.get("failed")) and ("exception" in item or item.get("failed_when_result") is True)


def as_text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def loop_items(result: dict) -> list[dict] | None:
    """The per-item results of a loop task, else None."""
    items = result.get("results")
    if isinstance(items, list) and items and all(isinstance(i, dict) and "ansible_loop_var" in i for i in items):
        return items
    return None


def json_document(stdout: str) -> dict | None:
    """The JSON callback's document: the last one in stdout (with -v, Ansible
    prints its own lines before it; it starts on a line of its own)."""
    decoder = json.JSONDecoder()
    starts = [0] if stdout.startswith("{") else []
    position = stdout.find("\n{")
    while position != -1:
        starts.append(position + 1)
        position = stdout.find("\n{", position + 1)
    for start in reversed(starts):
        try:
            document, _end = decoder.raw_decode(stdout, start)
        except ValueError:
            continue
        if isinstance(document, dict) and "plays" in document and "stats" in document:
            return document
    return None


@dataclass
class PlaybookRun:
    """One run of ansible-playbook or ansible, read from the JSON callback."""

    rc: int
    stdout: str
    stderr: str
    report: dict
    command: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, rc: int, stdout: str, stderr: str, command: list[str] | None = None, **more) -> PlaybookRun:
        """The run whose process exited `rc` and printed `stdout`, `stderr`;
        AssertionError (with the tail of the output) when it printed no JSON
        document (Ansible stopped before running anything: a syntax error, an
        unknown option, a missing file)."""
        report = json_document(stdout)
        if report is None:
            raise AssertionError(
                f"{' '.join(command or ['ansible'])} exited {rc} without a JSON report\n"
                f"stdout:\n{stdout[-TAIL:]}\nstderr:\n{stderr[-TAIL:]}"
            )
        return cls(rc, stdout, stderr, report, list(command or []), **more)

    @property
    def output(self) -> str:
        """stdout and stderr, for what must appear nowhere (secrets)."""
        return self.stdout + self.stderr

    @property
    def stats(self) -> dict[str, dict[str, int]]:
        """host -> ok, changed, failures, unreachable, skipped, rescued, ignored."""
        return self.report.get("stats", {})

    def changed(self, host: str | None = None) -> int:
        """Tasks changed on `host`, or on all hosts together."""
        hosts = [host] if host else list(self.stats)
        return sum(self.stats[h].get("changed", 0) for h in hosts)

    @cached_property
    def tasks(self) -> list[TaskResult]:
        """Every result in order: per task, per host, per loop item."""
        found = []
        for play in self.report.get("plays", []):
            for task in play.get("tasks", []):
                name = task["task"]["name"]
                for host, result in task.get("hosts", {}).items():
                    found.extend(flatten(name, host, result))
        return found

    def task(self, fragment: str) -> list[TaskResult]:
        """Results of the tasks whose name contains `fragment`."""
        return [t for t in self.tasks if fragment in t.task]

    def ran(self, fragment: str) -> bool:
        """Whether a task whose name contains `fragment` ran (was not skipped)
        on some host, for some item."""
        return any(not t.skipped for t in self.task(fragment))

    def result(self, name: str | None = None, host: str | None = None) -> dict:
        """The whole result (a loop's with its `results`) of the first task
        named `name` (its own name, with or without the role's prefix; None:
        the first task) on `host` (None: the only host that ran it)."""
        names = []
        for play in self.report.get("plays", []):
            for task in play.get("tasks", []):
                task_name = task["task"]["name"]
                names.append(task_name)
                if name is not None and task_name != name and not task_name.endswith(" : " + name):
                    continue
                hosts = task.get("hosts", {})
                if host is not None:
                    if host in hosts:
                        return hosts[host]
                    continue
                if len(hosts) == 1:
                    return next(iter(hosts.values()))
                raise AssertionError(f"task {task_name!r} ran on {sorted(hosts)}: say which host")
        raise AssertionError(f"no task {name!r}{'' if host is None else ' on ' + host} in {names}")

    @property
    def failures(self) -> list[TaskResult]:
        """The failed (or unreachable) results, in order; ignored and rescued
        failures among them."""
        return [t for t in self.tasks if t.failed]

    @property
    def failure(self) -> str:
        """Message of the last failed task: the one that ended the run (a
        rescue's explanation comes after the failure it rescued); "" when none
        failed."""
        failures = self.failures
        return failures[-1].msg if failures else ""

    @property
    def messages(self) -> list[str]:
        """Every `msg` of the run (a loop's own and its items'), for substring
        assertions."""
        found = []
        for play in self.report.get("plays", []):
            for task in play.get("tasks", []):
                for result in task.get("hosts", {}).values():
                    for one in [result, *(loop_items(result) or [])]:
                        if one.get("msg"):
                            found.append(as_text(one["msg"]))
        return found

    def summary(self) -> str:
        """What went wrong, for an assertion message: the exit code, every
        failure, the tail of stderr and of what preceded the JSON document."""
        lines = [f"{' '.join(self.command) or 'ansible'} exited {self.rc}"]
        lines += [f"failed: {t.task} [{t.host}]: {t.msg}" for t in self.failures]
        before = self.stdout[: self.stdout.rfind("\n{") + 1].strip()
        if before:
            lines += ["stdout before the report:", before[-TAIL:]]
        if self.stderr.strip():
            lines += ["stderr:", self.stderr[-TAIL:]]
        return "\n".join(lines)

    def check(self) -> PlaybookRun:
        """Assert the run succeeded; returns the run."""
        assert self.rc == 0, self.summary()
        return self


# ---------------------------------------------------------------- the cluster


def cluster_tool() -> Path:
    """The local cluster tool of this checkout."""
    return REPO / CLUSTER_TOOL


def kubeconfig() -> str:
    """The kubeconfig the tests and benchmarks use: $KUBECONFIG when set,
    else the local cluster's admin kubeconfig (from the tool's `env`)."""
    if os.environ.get("KUBECONFIG"):
        return os.environ["KUBECONFIG"]
    tool = cluster_tool()
    out = subprocess.run(
        [sys.executable, str(tool), "env"], stdout=subprocess.PIPE, text=True, check=True, timeout=60
    ).stdout
    for line in out.splitlines():
        key, _sep, value = line.strip().removeprefix("export ").partition("=")
        if key == "KUBECONFIG" and value:
            return value
    raise RuntimeError(f"{tool} env printed no KUBECONFIG= line:\n{out}")
