# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of _build_context: path safety, modes, the plan (created,
updated, removed) from wanted and current trees, idempotence, exclusive
removal, links of files and directories, and what check mode relies on (the
plan touches nothing).

The module itself runs through ansible in tests/functional/test_build_context.py.
"""

from __future__ import annotations

import errno
import os
import stat

import pytest

from ansible_collections.remotedev.jupyter.plugins.module_utils import _build_context as bc


def entry(kind, mode=0o644, size=0, ino=1, dev=1, mtime_ns=0, target=None):
    return bc.Entry(kind, mode, size, dev, ino, mtime_ns, mtime_ns, target)


def plan_for(files=(), links=(), sources=None, current=None, exclusive=False, contents=None):
    """The plan for module-style input against a current tree given as
    path -> Entry, with the current files' bytes in `contents`."""
    checked_files, checked_links = bc.check_items(list(files), list(links))
    wanted = bc.wanted_tree(checked_files, checked_links, sources or {})
    current = current or {}
    contents = contents or {}
    return bc.make_plan(wanted, current, exclusive, contents.__getitem__), wanted


def build(tmp_path, files=(), links=(), exclusive=False, check=False):
    """What the module does, against the real file system."""
    dest = str(tmp_path / "ctx")
    checked_files, checked_links = bc.check_items(list(files), list(links))
    wanted = bc.wanted_tree(checked_files, checked_links, bc.scan_sources(checked_links))
    dest_missing = not os.path.isdir(dest)
    current = {} if dest_missing else bc.scan(dest)
    read = bc.reader(dest)
    plan = bc.make_plan(wanted, current, exclusive, read)
    diffs = bc.diffs(plan, wanted, current, read)
    if not check:
        if dest_missing:
            bc.make_dest(dest)
        bc.apply_plan(dest, plan, wanted, current)
    return plan, diffs


def tree(root):
    """path -> (kind, mode, content or link target) of everything under root."""
    found = {}
    for path, item in bc.scan(str(root)).items():
        full = os.path.join(str(root), path)
        data = None
        if item.kind == bc.FILE:
            with open(full, "rb") as handle:
                data = handle.read()
        elif item.kind == bc.SYMLINK:
            data = item.target
        found[path] = (item.kind, item.mode, data)
    return found


def mode_of(path):
    return stat.S_IMODE(os.lstat(str(path)).st_mode)


# ---------------------------------------------------------------- input


@pytest.mark.parametrize("path,expected", [
    ("Containerfile", "Containerfile"),
    ("a//b/./c", "a/b/c"),
    ("./bin/x/", "bin/x"),
    ("name with spaces/ü", "name with spaces/ü"),
    ("..hidden/x..", "..hidden/x.."),
])
def test_normalize_path(path, expected):
    assert bc.normalize_path(path, "files[0]") == expected


@pytest.mark.parametrize("path,message", [
    ("../x", "files[3].path '../x': '..' would leave dest"),
    ("a/../../x", "files[3].path 'a/../../x': '..' would leave dest"),
    ("a/../b", "files[3].path 'a/../b': '..' would leave dest"),
    ("/etc/passwd", "files[3].path '/etc/passwd': is absolute"),
    ("", "files[3].path: give a path relative to dest"),
    (None, "files[3].path: give a path relative to dest"),
    (".", "files[3].path '.': names dest itself"),
    ("./", "files[3].path './': names dest itself"),
    ("a\x00b", "files[3].path 'a\\x00b': contains a NUL character"),
])
def test_normalize_path_refuses_what_leaves_dest(path, message):
    with pytest.raises(bc.ContextError) as info:
        bc.normalize_path(path, "files[3]")
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("value,expected", [
    ("0644", 0o644), ("644", 0o644), ("0o755", 0o755), ("0755", 0o755), (" 0600 ", 0o600),
    ("4755", 0o4755), (420, 0o644), (0, 0),
])
def test_parse_mode(value, expected):
    assert bc.parse_mode(value, "files[0]") == expected


@pytest.mark.parametrize("value", ["u+x", "rw-r--r--", "0999", "", "07777 7", "077777", True, 1.5, 0o10000, -1, None])
def test_parse_mode_refuses(value):
    with pytest.raises(bc.ContextError, match=r"^files\[0\]\.mode: expected an octal mode such as '0644', got "):
        bc.parse_mode(value, "files[0]")


def test_check_items_normalizes_and_defaults():
    files, links = bc.check_items(
        [{"path": "./a//b", "content": "é\n", "mode": None}, {"path": "x", "content": "", "mode": "0755"}],
        [{"path": "wheels/server/", "source": "/cache/wheelhouse/abc/"}])
    assert files == [bc.FileItem("files[0]", "a/b", "é\n".encode("utf-8"), 0o644),
                     bc.FileItem("files[1]", "x", b"", 0o755)]
    assert links == [bc.LinkItem("links[0]", "wheels/server", "/cache/wheelhouse/abc")]


@pytest.mark.parametrize("files,links,message", [
    ([{"path": "../x", "content": ""}], [], "files[0].path '../x': '..' would leave dest"),
    ([{"path": "ok", "content": ""}, {"path": "/abs", "content": ""}], [], "files[1].path '/abs': is absolute"),
    ([], [{"path": "../../w", "source": "/w"}], "links[0].path '../../w': '..' would leave dest"),
    ([], [{"path": "w", "source": "relative/dir"}], "links[0].source 'relative/dir': give an absolute path"),
    ([{"path": "a", "content": ""}, {"path": "./a", "content": ""}], [], "files[1].path 'a': files[0] has the same path"),
    ([{"path": "w", "content": ""}], [{"path": "w", "source": "/w"}], "links[0].path 'w': files[0] has the same path"),
    ([{"path": "a", "content": ""}, {"path": "a/b", "content": ""}], [],
     "files[1].path 'a/b': is inside files[0].path 'a', which is not a directory of the context"),
    ([{"path": "w/extra.txt", "content": ""}], [{"path": "w", "source": "/w"}],
     "files[0].path 'w/extra.txt': is inside links[0].path 'w'"),
    ([{"path": "x", "content": "", "mode": "a+r"}], [], "files[0].mode: expected an octal mode"),
    ([{"path": "x", "content": 7}], [], "files[0].content: expected a string, got int"),
    ([{"path": "x", "content": "\ud800"}], [], "files[0].content: cannot be written as UTF-8"),
])
def test_check_items_names_the_bad_item(files, links, message):
    with pytest.raises(bc.ContextError) as info:
        bc.check_items(files, links)
    assert str(info.value).startswith(message)


def test_missing_source_is_named(tmp_path):
    _files, links = bc.check_items([], [{"path": "w", "source": str(tmp_path / "nowhere")}])
    with pytest.raises(bc.ContextError, match=r"^links\[0\]\.source '.*/nowhere': No such file or directory$"):
        bc.scan_sources(links)


# ---------------------------------------------------------------- planning (pure)


def test_wanted_tree_adds_parent_directories_0755():
    _plan, wanted = plan_for([{"path": "prefix/etc/jupyter/config.json", "content": "{}"},
                              {"path": "bin/hc", "content": "#!/bin/sh\n", "mode": "0755"},
                              {"path": "Containerfile", "content": "FROM x\n"}])
    assert sorted(wanted) == ["Containerfile", "bin", "bin/hc", "prefix", "prefix/etc", "prefix/etc/jupyter",
                              "prefix/etc/jupyter/config.json"]
    assert wanted["prefix/etc"] == bc.Want(bc.DIRECTORY, 0o755, None, None, None)
    assert wanted["bin/hc"] == bc.Want(bc.FILE, 0o755, b"#!/bin/sh\n", None, None)
    assert wanted["Containerfile"].mode == 0o644


def test_wanted_tree_of_links():
    sources = {
        "wheels/server": {"": entry(bc.DIRECTORY, 0o750, ino=10), "a.whl": entry(bc.FILE, ino=11),
                          "sub": entry(bc.DIRECTORY, 0o700, ino=12), "sub/b": entry(bc.FILE, ino=13),
                          "ln": entry(bc.SYMLINK, 0o777, ino=14, target="a.whl")},
        "code-server.tar": {"": entry(bc.FILE, ino=20)},
    }
    _plan, wanted = plan_for(links=[{"path": "wheels/server", "source": "/cache/w"},
                                    {"path": "code-server.tar", "source": "/cache/cs/code-server.tar"}],
                             sources=sources)
    assert wanted["wheels"] == bc.Want(bc.DIRECTORY, 0o755, None, None, None)
    assert wanted["wheels/server"] == bc.Want(bc.DIRECTORY, 0o750, None, "/cache/w", sources["wheels/server"][""])
    assert wanted["wheels/server/sub"].mode == 0o700
    assert wanted["wheels/server/sub/b"] == bc.Want(bc.LINK, None, None, "/cache/w/sub/b", sources["wheels/server"]["sub/b"])
    assert wanted["wheels/server/ln"].kind == bc.LINK
    assert wanted["code-server.tar"].source == "/cache/cs/code-server.tar"


def test_plan_for_an_empty_dest_creates_everything():
    plan, _wanted = plan_for([{"path": "a/b", "content": "x"}, {"path": "c", "content": "y"}])
    assert plan == bc.Plan(["a", "a/b", "c"], [], [])
    assert plan.changed


def test_plan_is_empty_when_everything_matches():
    current = {"a": entry(bc.DIRECTORY, 0o755), "a/b": entry(bc.FILE, 0o644, size=1)}
    plan, _wanted = plan_for([{"path": "a/b", "content": "x"}], current=current, contents={"a/b": b"x"})
    assert plan == bc.Plan([], [], [])
    assert not plan.changed


@pytest.mark.parametrize("have,contents,why", [
    (entry(bc.FILE, 0o644, size=1), {"a/b": b"y"}, "content"),
    (entry(bc.FILE, 0o644, size=2), {}, "size (content not even read)"),
    (entry(bc.FILE, 0o600, size=1), {"a/b": b"x"}, "mode"),
    (entry(bc.SYMLINK, 0o777, target="elsewhere"), {}, "kind"),
    (entry(bc.DIRECTORY, 0o755), {}, "a directory where the file goes"),
])
def test_plan_updates_a_file_that_differs(have, contents, why):
    current = {"a": entry(bc.DIRECTORY, 0o755), "a/b": have}
    plan, _wanted = plan_for([{"path": "a/b", "content": "x"}], current=current, contents=contents)
    assert plan == bc.Plan([], ["a/b"], []), why


def test_plan_fixes_directory_modes_and_kinds():
    current = {"a": entry(bc.DIRECTORY, 0o700), "c": entry(bc.FILE, 0o644)}
    plan, _wanted = plan_for([{"path": "a/b", "content": "x"}, {"path": "c/d", "content": "y"}], current=current)
    assert plan == bc.Plan(["a/b", "c/d"], ["a", "c"], [])


def test_plan_keeps_foreign_paths_unless_exclusive():
    current = {"keep": entry(bc.FILE), "old": entry(bc.DIRECTORY), "old/x": entry(bc.FILE),
               "old/y": entry(bc.DIRECTORY), "old/y/z": entry(bc.FILE), "a": entry(bc.DIRECTORY, 0o755),
               "a/stale": entry(bc.FILE)}
    files = [{"path": "a/b", "content": "x"}]
    plan, _wanted = plan_for(files, current=current)
    assert plan == bc.Plan(["a/b"], [], [])
    plan, _wanted = plan_for(files, current=current, exclusive=True)
    # The top-most paths only: a removed directory goes with everything in it.
    assert plan == bc.Plan(["a/b"], [], ["a/stale", "keep", "old"])


def test_plan_removes_what_is_under_a_directory_that_becomes_a_file():
    current = {"a": entry(bc.DIRECTORY, 0o755), "a/x": entry(bc.FILE), "a/y": entry(bc.DIRECTORY),
               "a/y/z": entry(bc.FILE), "other": entry(bc.FILE)}
    plan, _wanted = plan_for([{"path": "a", "content": "now a file"}], current=current)
    assert plan == bc.Plan([], ["a"], ["a/x", "a/y"])


def test_plan_of_links_compares_inodes_then_copies():
    source = {"": entry(bc.DIRECTORY, 0o755, ino=10), "w.whl": entry(bc.FILE, 0o644, size=5, ino=11, mtime_ns=7),
              "ln": entry(bc.SYMLINK, 0o777, ino=12, target="w.whl")}
    links = [{"path": "wheels", "source": "/cache/w"}]
    linked = {"wheels": entry(bc.DIRECTORY, 0o755, ino=99), "wheels/w.whl": source["w.whl"], "wheels/ln": source["ln"]}
    assert plan_for(links=links, sources={"wheels": source}, current=linked)[0] == bc.Plan([], [], [])

    copied = dict(linked, **{"wheels/w.whl": entry(bc.FILE, 0o644, size=5, ino=50, mtime_ns=7),
                             "wheels/ln": entry(bc.SYMLINK, 0o777, ino=51, target="w.whl")})
    assert plan_for(links=links, sources={"wheels": source}, current=copied)[0] == bc.Plan([], [], [])

    for changed in (dict(size=6), dict(mtime_ns=8), dict(mode=0o600)):
        other = dict(dict(kind=bc.FILE, mode=0o644, size=5, ino=50, mtime_ns=7), **changed)
        current = dict(linked, **{"wheels/w.whl": entry(**other)})
        assert plan_for(links=links, sources={"wheels": source}, current=current)[0] == \
            bc.Plan([], ["wheels/w.whl"], []), changed
    retargeted = dict(linked, **{"wheels/ln": entry(bc.SYMLINK, 0o777, ino=51, target="other")})
    assert plan_for(links=links, sources={"wheels": source}, current=retargeted)[0] == bc.Plan([], ["wheels/ln"], [])


def test_plan_reads_nothing_when_sizes_differ():
    current = {"f": entry(bc.FILE, 0o644, size=3)}
    plan, _wanted = plan_for([{"path": "f", "content": "x"}], current=current, contents={})   # a read would KeyError
    assert plan.updated == ["f"]


def test_diffs_show_contents_modes_and_removals():
    current = {"changed": entry(bc.FILE, 0o644, size=4), "chmod": entry(bc.FILE, 0o644, size=2),
               "stale": entry(bc.FILE, 0o600, size=3), "olddir": entry(bc.DIRECTORY, 0o755),
               "olddir/x": entry(bc.FILE)}
    contents = {"changed": b"old\n", "chmod": b"x\n", "stale": b"gone"}
    files = [{"path": "changed", "content": "new\n"}, {"path": "chmod", "content": "x\n", "mode": "0755"},
             {"path": "new", "content": "fresh\n"}, {"path": "big", "content": "y" * 20},
             {"path": "bin", "content": "\x00\x01"}]
    checked, _links = bc.check_items(files, [])
    wanted = bc.wanted_tree(checked, [], {})
    plan = bc.make_plan(wanted, current, True, contents.__getitem__)
    found = {d["after_header"].split(" ")[0]: d for d in bc.diffs(plan, wanted, current, contents.__getitem__, limit=10)}
    assert found["changed"] == {"before_header": "changed (mode 0644)", "before": "old\n",
                                "after_header": "changed (mode 0644)", "after": "new\n"}
    assert found["chmod"]["before_header"] == "chmod (mode 0644)" and found["chmod"]["after_header"] == "chmod (mode 0755)"
    assert found["new"] == {"before_header": "new (absent)", "before": "", "after_header": "new (mode 0644)",
                            "after": "fresh\n"}
    assert found["big"]["after"] == "(20 bytes, not shown: more than 10)\n"
    assert found["bin"]["after"] == "(binary, 2 bytes)\n"
    assert found["stale"] == {"before_header": "stale (mode 0600)", "before": "gone",
                              "after_header": "stale (removed)", "after": ""}
    assert found["olddir"]["before_header"] == "olddir (directory)" and found["olddir"]["after"] == ""
    assert "olddir/x" not in found


# ---------------------------------------------------------------- on disk


FILES = [
    {"path": "Containerfile", "content": "FROM debian:12\n"},
    {"path": "bin/jupyter-healthcheck", "content": "#!/bin/sh\nexit 0\n", "mode": "0755"},
    {"path": "prefix/etc/jupyter/jupyter_config.json", "content": "{}\n", "mode": "0644"},
]


def test_writes_the_context_with_its_modes(tmp_path):
    plan, _diffs = build(tmp_path, FILES)
    ctx = tmp_path / "ctx"
    assert plan.created == ["Containerfile", "bin", "bin/jupyter-healthcheck", "prefix", "prefix/etc",
                            "prefix/etc/jupyter", "prefix/etc/jupyter/jupyter_config.json"]
    assert tree(ctx) == {
        "Containerfile": (bc.FILE, 0o644, b"FROM debian:12\n"),
        "bin": (bc.DIRECTORY, 0o755, None),
        "bin/jupyter-healthcheck": (bc.FILE, 0o755, b"#!/bin/sh\nexit 0\n"),
        "prefix": (bc.DIRECTORY, 0o755, None),
        "prefix/etc": (bc.DIRECTORY, 0o755, None),
        "prefix/etc/jupyter": (bc.DIRECTORY, 0o755, None),
        "prefix/etc/jupyter/jupyter_config.json": (bc.FILE, 0o644, b"{}\n"),
    }
    assert mode_of(ctx) == 0o755


def test_modes_do_not_depend_on_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        build(tmp_path, FILES)
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "ctx") == 0o755
    assert mode_of(tmp_path / "ctx/bin") == 0o755
    assert mode_of(tmp_path / "ctx/Containerfile") == 0o644
    assert mode_of(tmp_path / "ctx/bin/jupyter-healthcheck") == 0o755


def test_dest_and_its_parents_are_created_0755_and_an_existing_dest_keeps_its_mode(tmp_path):
    dest = tmp_path / "a" / "b" / "ctx"
    bc.make_dest(str(dest))
    assert [mode_of(p) for p in (tmp_path / "a", tmp_path / "a/b", dest)] == [0o755] * 3
    existing = tmp_path / "ctx"
    existing.mkdir(mode=0o700)
    os.chmod(str(existing), 0o700)
    build(tmp_path, FILES)
    assert mode_of(existing) == 0o700


def test_second_run_changes_and_rewrites_nothing(tmp_path):
    build(tmp_path, FILES)
    before = {p: os.lstat(str(tmp_path / "ctx" / p)) for p in bc.scan(str(tmp_path / "ctx"))}
    plan, diffs = build(tmp_path, FILES)
    assert plan == bc.Plan([], [], []) and diffs == []
    after = {p: os.lstat(str(tmp_path / "ctx" / p)) for p in bc.scan(str(tmp_path / "ctx"))}
    assert {p: (s.st_ino, s.st_mtime_ns) for p, s in after.items()} == \
        {p: (s.st_ino, s.st_mtime_ns) for p, s in before.items()}


def test_changed_content_and_mode_are_replaced_atomically(tmp_path):
    build(tmp_path, FILES)
    ctx = tmp_path / "ctx"
    (ctx / "Containerfile").write_text("edited by hand\n")
    os.chmod(str(ctx / "bin/jupyter-healthcheck"), 0o644)
    os.chmod(str(ctx / "bin"), 0o700)
    plan, _diffs = build(tmp_path, FILES)
    assert plan == bc.Plan([], ["Containerfile", "bin", "bin/jupyter-healthcheck"], [])
    assert (ctx / "Containerfile").read_text() == "FROM debian:12\n"
    assert mode_of(ctx / "bin/jupyter-healthcheck") == 0o755 and mode_of(ctx / "bin") == 0o755
    assert not [p for p in bc.scan(str(ctx)) if p.endswith(".tmp")]


def test_a_file_hard_linked_elsewhere_is_replaced_not_changed_in_place(tmp_path):
    outside = tmp_path / "outside"
    outside.write_text("FROM debian:12\n")
    os.chmod(str(outside), 0o600)
    (tmp_path / "ctx").mkdir()
    os.link(str(outside), str(tmp_path / "ctx/Containerfile"))
    build(tmp_path, FILES[:1])
    assert mode_of(tmp_path / "ctx/Containerfile") == 0o644
    assert mode_of(outside) == 0o600 and outside.read_text() == "FROM debian:12\n"


def test_exclusive_removes_what_is_not_wanted(tmp_path):
    build(tmp_path, FILES)
    ctx = tmp_path / "ctx"
    (ctx / "stale.txt").write_text("leaks into the image")
    (ctx / "old" / "deep").mkdir(parents=True)
    (ctx / "old" / "deep" / "x").write_text("x")
    os.symlink("/etc", str(ctx / "etc-link"))
    (ctx / "bin" / "leftover").write_text("y")

    kept, _diffs = build(tmp_path, FILES)
    assert kept == bc.Plan([], [], [])
    assert (ctx / "stale.txt").exists()

    plan, diffs = build(tmp_path, FILES, exclusive=True)
    assert plan == bc.Plan([], [], ["bin/leftover", "etc-link", "old", "stale.txt"])
    assert sorted(tree(ctx)) == sorted(["Containerfile", "bin", "bin/jupyter-healthcheck", "prefix", "prefix/etc",
                                        "prefix/etc/jupyter", "prefix/etc/jupyter/jupyter_config.json"])
    assert os.path.isdir("/etc")   # the link went, not its target
    assert {d["after_header"] for d in diffs} == {"bin/leftover (removed)", "etc-link (removed)", "old (removed)",
                                                  "stale.txt (removed)"}


def test_a_symlinked_directory_in_dest_is_replaced_not_followed(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "ctx").mkdir()
    os.symlink(str(elsewhere), str(tmp_path / "ctx" / "bin"))
    plan, _diffs = build(tmp_path, FILES)
    assert "bin" in plan.updated
    assert os.path.isdir(str(tmp_path / "ctx/bin")) and not os.path.islink(str(tmp_path / "ctx/bin"))
    assert list(elsewhere.iterdir()) == []


def test_check_mode_plans_and_touches_nothing(tmp_path):
    plan, diffs = build(tmp_path, FILES, check=True)
    assert plan.created[0] == "Containerfile" and len(plan.created) == 7
    assert [d["before_header"] for d in diffs] == [
        "Containerfile (absent)", "bin/jupyter-healthcheck (absent)", "prefix/etc/jupyter/jupyter_config.json (absent)"]
    assert not (tmp_path / "ctx").exists()

    build(tmp_path, FILES)
    (tmp_path / "ctx/stale").write_text("s")
    before = tree(tmp_path / "ctx")
    changed = [dict(FILES[0], content="FROM debian:13\n")] + FILES[1:]
    plan, diffs = build(tmp_path, changed, exclusive=True, check=True)
    assert plan == bc.Plan([], ["Containerfile"], ["stale"])
    assert diffs[0]["before"] == "FROM debian:12\n" and diffs[0]["after"] == "FROM debian:13\n"
    assert tree(tmp_path / "ctx") == before


def make_source(tmp_path):
    source = tmp_path / "wheelhouse"
    (source / "sub").mkdir(parents=True)
    (source / "a-1.0-py3-none-any.whl").write_bytes(b"wheel a")
    (source / "sub" / "b.whl").write_bytes(b"wheel b")
    (source / "wheels-abc.sha256sums").write_text("sums\n")
    os.symlink("a-1.0-py3-none-any.whl", str(source / "latest.whl"))
    os.chmod(str(source / "sub"), 0o750)
    os.utime(str(source / "sub"), ns=(1_000_000_000, 2_000_000_000))
    os.utime(str(source), ns=(3_000_000_000, 4_000_000_000))
    tar = tmp_path / "code-server.tar"
    tar.write_bytes(b"tar")
    return source, tar


def test_links_files_and_directories_as_hard_links(tmp_path):
    source, tar = make_source(tmp_path)
    links = [{"path": "wheels/server", "source": str(source)}, {"path": "code-server.tar", "source": str(tar)}]
    plan, diffs = build(tmp_path, FILES[:1], links)
    ctx = tmp_path / "ctx"
    assert plan.created == ["Containerfile", "code-server.tar", "wheels", "wheels/server",
                            "wheels/server/a-1.0-py3-none-any.whl", "wheels/server/latest.whl", "wheels/server/sub",
                            "wheels/server/sub/b.whl", "wheels/server/wheels-abc.sha256sums"]
    assert [d["after_header"] for d in diffs] == ["Containerfile (mode 0644)"]   # no diff for linked inputs
    for inside, outside in [("wheels/server/a-1.0-py3-none-any.whl", "wheelhouse/a-1.0-py3-none-any.whl"),
                            ("wheels/server/sub/b.whl", "wheelhouse/sub/b.whl"),
                            ("wheels/server/latest.whl", "wheelhouse/latest.whl"),
                            ("code-server.tar", "code-server.tar")]:
        assert os.lstat(str(ctx / inside)).st_ino == os.lstat(str(tmp_path / outside)).st_ino, inside
    assert os.readlink(str(ctx / "wheels/server/latest.whl")) == "a-1.0-py3-none-any.whl"
    # Directories as cp --archive leaves them: the source's mode and times.
    assert mode_of(ctx / "wheels/server/sub") == 0o750
    assert os.stat(str(ctx / "wheels/server/sub")).st_mtime_ns == 2_000_000_000
    assert os.stat(str(ctx / "wheels/server")).st_mtime_ns == 4_000_000_000
    assert mode_of(ctx / "wheels") == 0o755

    again, _diffs = build(tmp_path, FILES[:1], links)
    assert again == bc.Plan([], [], [])


def test_a_read_only_source_directory_is_filled_then_closed(tmp_path):
    source, _tar = make_source(tmp_path)
    os.chmod(str(source / "sub"), 0o555)
    build(tmp_path, [], [{"path": "w", "source": str(source)}])
    assert mode_of(tmp_path / "ctx/w/sub") == 0o555
    assert (tmp_path / "ctx/w/sub/b.whl").read_bytes() == b"wheel b"


def test_links_fall_back_to_copies_across_file_systems(tmp_path, monkeypatch):
    source, tar = make_source(tmp_path)

    def cross_device(*_args, **_kwargs):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(bc.os, "link", cross_device)
    links = [{"path": "w", "source": str(source)}, {"path": "t.tar", "source": str(tar)}]
    build(tmp_path, [], links)
    ctx = tmp_path / "ctx"
    copied = ctx / "w/a-1.0-py3-none-any.whl"
    assert copied.read_bytes() == b"wheel a"
    assert os.lstat(str(copied)).st_ino != os.lstat(str(source / "a-1.0-py3-none-any.whl")).st_ino
    assert os.stat(str(copied)).st_mtime_ns == os.stat(str(source / "a-1.0-py3-none-any.whl")).st_mtime_ns
    assert os.readlink(str(ctx / "w/latest.whl")) == "a-1.0-py3-none-any.whl"
    assert (ctx / "t.tar").read_bytes() == b"tar"
    # The copies count as up to date.
    assert build(tmp_path, [], links)[0] == bc.Plan([], [], [])


def test_other_link_failures_are_reported_with_the_path(tmp_path, monkeypatch):
    _source, tar = make_source(tmp_path)

    def denied(*_args, **_kwargs):
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(bc.os, "link", denied)
    with pytest.raises(bc.ContextError) as info:
        build(tmp_path, [], [{"path": "t.tar", "source": str(tar)}])
    assert str(info.value) == "%s: Permission denied" % (tmp_path / "ctx" / "t.tar")


def test_a_changed_source_is_linked_again(tmp_path):
    source, _tar = make_source(tmp_path)
    links = [{"path": "w", "source": str(source)}]
    build(tmp_path, [], links)
    replacement = tmp_path / "new.whl"
    replacement.write_bytes(b"new wheel")
    os.replace(str(replacement), str(source / "a-1.0-py3-none-any.whl"))
    (source / "wheels-abc.sha256sums").unlink()
    plan, _diffs = build(tmp_path, [], links, exclusive=True)
    assert plan == bc.Plan([], ["w/a-1.0-py3-none-any.whl"], ["w/wheels-abc.sha256sums"])
    assert (tmp_path / "ctx/w/a-1.0-py3-none-any.whl").read_bytes() == b"new wheel"
