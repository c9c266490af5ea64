# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""build_context run by `ansible`, as the image role runs it: --check --diff
touches nothing, a real run writes files and hard links, a second run
reports changed=0 and rewrites nothing, exclusive removes stale paths, and a
path leaving dest fails naming the item before anything is written."""

from __future__ import annotations

import os
import stat

# helpers puts tests.support on sys.path.
import helpers  # noqa: F401  pylint: disable=import-error,unused-import

from tests.support.playbook import run_module

MODULE = "remotedev.jupyter.build_context"


def snapshot(root):
    """path -> (inode, mtime, mode, content or link target) of everything under root."""
    found = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode):
                with open(path, "rb") as handle:
                    data = handle.read()
            elif stat.S_ISLNK(info.st_mode):
                data = os.readlink(path)
            else:
                data = None
            found[os.path.relpath(path, root)] = (info.st_ino, info.st_mtime_ns, stat.S_IMODE(info.st_mode), data)
    return found


def context_args(tmp_path, **more):
    wheels = tmp_path / "cache" / "wheelhouse"
    if not wheels.exists():
        wheels.mkdir(parents=True)
        (wheels / "six-1.17.0-py2.py3-none-any.whl").write_bytes(b"PK\x03\x04 a wheel")
        (wheels / "wheels-0123.sha256sums").write_text("0123  six-1.17.0-py2.py3-none-any.whl\n")
        (tmp_path / "cache" / "code-server.tar").write_bytes(b"tar" * 10)
    args = {
        "dest": str(tmp_path / "build" / "ctx"),
        "files": [
            {"path": "Containerfile", "content": "FROM debian:12\nCOPY wheels/server /wheels\n"},
            {"path": "bin/jupyter-healthcheck", "content": "#!/bin/sh\nexit 0\n", "mode": "0755"},
            {"path": "etc/jupyter/jupyter_server_config.py", "content": "c = get_config()\n", "mode": 420},
        ],
        "links": [
            {"path": "wheels/server", "source": str(wheels)},
            {"path": "code-server.tar", "source": str(tmp_path / "cache" / "code-server.tar")},
        ],
    }
    args.update(more)
    return args


def test_check_diff_then_write_then_nothing_to_do(tmp_path):
    args = context_args(tmp_path)
    dest = tmp_path / "build" / "ctx"

    preview = run_module(MODULE, args, check=True, diff=True)
    result = preview.result()
    assert result["changed"] is True, preview.summary()
    assert result["created"][:3] == [".", "Containerfile", "bin"]
    assert "wheels/server/six-1.17.0-py2.py3-none-any.whl" in result["created"]
    assert [(d["before_header"], d["after_header"]) for d in result["diff"]] == [
        ("Containerfile (absent)", "Containerfile (mode 0644)"),
        ("bin/jupyter-healthcheck (absent)", "bin/jupyter-healthcheck (mode 0755)"),
        ("etc/jupyter/jupyter_server_config.py (absent)", "etc/jupyter/jupyter_server_config.py (mode 0644)"),
    ]
    assert result["diff"][0]["after"] == "FROM debian:12\nCOPY wheels/server /wheels\n"
    assert not (tmp_path / "build").exists(), "check mode must create nothing"

    first = run_module(MODULE, args, diff=True)
    assert first.result()["changed"] is True, first.summary()
    assert first.result()["created"] == result["created"]
    assert (dest / "Containerfile").read_text() == "FROM debian:12\nCOPY wheels/server /wheels\n"
    assert stat.S_IMODE(os.stat(dest / "bin/jupyter-healthcheck").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(dest / "etc/jupyter/jupyter_server_config.py").st_mode) == 0o644
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o755
    wheel = "wheels/server/six-1.17.0-py2.py3-none-any.whl"
    assert os.stat(dest / wheel).st_ino == os.stat(tmp_path / "cache/wheelhouse/six-1.17.0-py2.py3-none-any.whl").st_ino
    assert os.stat(dest / "code-server.tar").st_ino == os.stat(tmp_path / "cache/code-server.tar").st_ino
    written = snapshot(dest)

    second = run_module(MODULE, args, diff=True)
    assert second.changed("localhost") == 0, second.summary()
    assert second.result()["created"] == second.result()["updated"] == second.result()["removed"] == []
    assert snapshot(dest) == written, "an unchanged context must not be rewritten"

    again_checked = run_module(MODULE, args, check=True)
    assert again_checked.changed("localhost") == 0, again_checked.summary()


def test_changes_and_exclusive_removal_with_check_and_diff(tmp_path):
    args = context_args(tmp_path)
    dest = tmp_path / "build" / "ctx"
    run_module(MODULE, args).check()
    (dest / "stale.txt").write_text("must not reach the image\n")
    (dest / "wheels" / "old").mkdir()
    changed = context_args(tmp_path, exclusive=True)
    changed["files"][0]["content"] = "FROM debian:13\n"
    changed["files"][1]["mode"] = "0750"
    before = snapshot(dest)

    preview = run_module(MODULE, changed, check=True, diff=True).result()
    assert preview["changed"] is True
    assert preview["created"] == []
    assert preview["updated"] == ["Containerfile", "bin/jupyter-healthcheck"]
    assert preview["removed"] == ["stale.txt", "wheels/old"]
    diffs = {d["after_header"]: d for d in preview["diff"]}
    assert diffs["Containerfile (mode 0644)"]["before"] == "FROM debian:12\nCOPY wheels/server /wheels\n"
    assert diffs["Containerfile (mode 0644)"]["after"] == "FROM debian:13\n"
    assert diffs["bin/jupyter-healthcheck (mode 0750)"]["before_header"] == "bin/jupyter-healthcheck (mode 0755)"
    assert diffs["stale.txt (removed)"]["before"] == "must not reach the image\n"
    assert snapshot(dest) == before, "check mode must change nothing"

    applied = run_module(MODULE, changed).result()
    assert (applied["updated"], applied["removed"]) == (preview["updated"], preview["removed"])
    assert not (dest / "stale.txt").exists() and not (dest / "wheels/old").exists()
    assert (dest / "Containerfile").read_text() == "FROM debian:13\n"
    assert stat.S_IMODE(os.stat(dest / "bin/jupyter-healthcheck").st_mode) == 0o750
    assert run_module(MODULE, changed).changed("localhost") == 0


def test_a_path_leaving_dest_is_refused_naming_the_item(tmp_path):
    args = context_args(tmp_path)
    args["files"].append({"path": "../x", "content": "escaped\n"})
    run = run_module(MODULE, args)
    result = run.result()
    assert result["failed"] is True
    assert result["msg"] == "files[3].path '../x': '..' would leave dest"
    assert not (tmp_path / "build").exists() and not (tmp_path / "x").exists()

    args = context_args(tmp_path)
    args["links"][0]["path"] = "/wheels"
    result = run_module(MODULE, args).result()
    assert result["failed"] is True
    assert result["msg"] == "links[0].path '/wheels': is absolute; give a path relative to dest"
    assert not (tmp_path / "build").exists()


def test_unknown_item_keys_are_refused_by_the_argument_spec(tmp_path):
    args = context_args(tmp_path)
    args["files"][0]["enabled"] = True
    result = run_module(MODULE, args).result()
    assert result["failed"] is True
    assert "enabled" in result["msg"]
    assert not (tmp_path / "build").exists()
