# -*- coding: utf-8 -*-
# Copyright (c) remotedev.jupyter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make a directory tree exactly a wanted build context (private to this collection).

The module build_context runs these in order:

    files, links = check_items(files, links)          the input, normalized; ContextError names a bad item
    sources = scan_sources(links)                      the trees to hard-link (lstat, links not followed)
    wanted = wanted_tree(files, links, sources)        every path the context holds: kind, mode, content
    current = scan(dest)                               what is there now
    plan = make_plan(wanted, current, exclusive, read) created, updated, removed (nothing touched)
    apply_plan(dest, plan, wanted, current)            do it

check_items, wanted_tree, make_plan and diffs are pure; scan, scan_sources,
reader, make_dest and apply_plan touch the file system.
"""

from __future__ import annotations

import errno
import os
import posixpath
import re
import shutil
import stat
import tempfile
from collections import namedtuple

DIRECTORY = "directory"
FILE = "file"
SYMLINK = "symlink"
OTHER = "other"
# A wanted path that is a hard link to a source (a file, or a symlink as such).
LINK = "link"

# Directories the module creates for files and for dest.
DIRECTORY_MODE = 0o755
DEFAULT_FILE_MODE = "0644"
# Larger file contents are not put into a diff (Ansible's default
# max_file_size_for_diff).
DIFF_MAX_BYTES = 104448
# os.link failures after which the source is copied instead: another file
# system, a file system without hard links, too many links, or hard links
# the kernel refuses (fs.protected_hardlinks).
LINK_FALLBACK_ERRNOS = frozenset((errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP))

_OCTAL_MODE = re.compile(r"^(0o|0)?[0-7]{1,4}$")

# One path on disk as lstat sees it (kind: directory, file, symlink or other).
Entry = namedtuple("Entry", "kind mode size dev ino mtime_ns atime_ns target")
# One wanted path: a directory (mode), a file (mode, content) or a link to
# source, whose lstat is entry (a linked directory keeps source and entry too).
Want = namedtuple("Want", "kind mode content source entry")
FileItem = namedtuple("FileItem", "where path content mode")
LinkItem = namedtuple("LinkItem", "where path source")


class ContextError(ValueError):
    """Bad input or a failed write; the message names the item or the path."""


class Plan(namedtuple("Plan", "created updated removed")):
    """Relative paths: created (absent now), updated (there, but different),
    removed (the top-most paths that go, each with everything under it)."""

    @property
    def changed(self):
        return bool(self.created or self.updated or self.removed)


# ---------------------------------------------------------------- input


def normalize_path(path, where):
    """`path` as a normalized relative path below dest ("a//b/./c" -> "a/b/c");
    ContextError for an empty or absolute path and for any '..' component."""
    if not isinstance(path, str) or not path.strip():
        raise ContextError("%s.path: give a path relative to dest" % where)
    if "\x00" in path:
        raise ContextError("%s.path %r: contains a NUL character" % (where, path))
    if path.startswith("/"):
        raise ContextError("%s.path %r: is absolute; give a path relative to dest" % (where, path))
    parts = path.split("/")
    if ".." in parts:
        raise ContextError("%s.path %r: '..' would leave dest" % (where, path))
    kept = [part for part in parts if part not in ("", ".")]
    if not kept:
        raise ContextError("%s.path %r: names dest itself; give a path below it" % (where, path))
    return "/".join(kept)


def parse_mode(value, where):
    """An octal mode string ('0644', '644', '0o644') or an integer (as YAML's
    unquoted 0644 arrives) as an int; ContextError otherwise."""
    if isinstance(value, bool):
        mode = None
    elif isinstance(value, int):
        mode = value
    elif isinstance(value, str) and _OCTAL_MODE.match(value.strip()):
        mode = int(value.strip(), 8)
    else:
        mode = None
    if mode is None or not 0 <= mode <= 0o7777:
        raise ContextError("%s.mode: expected an octal mode such as '0644', got %r" % (where, value))
    return mode


def _encode(content, where):
    if not isinstance(content, str):
        raise ContextError("%s.content: expected a string, got %s" % (where, type(content).__name__))
    try:
        return content.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise ContextError("%s.content: cannot be written as UTF-8 (%s)" % (where, exc.reason))


def check_items(files, links):
    """The module's files and links as FileItem (content as UTF-8 bytes, mode
    as int) and LinkItem lists. ContextError names the first bad item: a path
    that is absolute or leaves dest, a bad mode, a relative source, a path
    given twice, or a path inside another item's path."""
    checked_files, checked_links, seen = [], [], {}
    for index, item in enumerate(files or []):
        where = "files[%d]" % index
        path = normalize_path(item.get("path"), where)
        mode = parse_mode(DEFAULT_FILE_MODE if item.get("mode") is None else item.get("mode"), where)
        checked_files.append(FileItem(where, path, _encode(item.get("content"), where), mode))
        seen.setdefault(path, where)
    for index, item in enumerate(links or []):
        where = "links[%d]" % index
        path = normalize_path(item.get("path"), where)
        source = item.get("source")
        if not isinstance(source, str) or not posixpath.isabs(source):
            raise ContextError("%s.source %r: give an absolute path" % (where, source))
        checked_links.append(LinkItem(where, path, posixpath.normpath(source)))
        seen.setdefault(path, where)
    for item in checked_files + checked_links:
        if seen[item.path] != item.where:
            raise ContextError("%s.path %r: %s has the same path" % (item.where, item.path, seen[item.path]))
        parent = posixpath.dirname(item.path)
        while parent:
            if parent in seen:
                raise ContextError("%s.path %r: is inside %s.path %r, which is not a directory of the context"
                                   % (item.where, item.path, seen[parent], parent))
            parent = posixpath.dirname(parent)
    return checked_files, checked_links


# ---------------------------------------------------------------- the file system


def entry_from_stat(info, target=None):
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        kind = DIRECTORY
    elif stat.S_ISREG(mode):
        kind = FILE
    elif stat.S_ISLNK(mode):
        kind = SYMLINK
    else:
        kind = OTHER
    return Entry(kind, stat.S_IMODE(mode), info.st_size, info.st_dev, info.st_ino, info.st_mtime_ns,
                 info.st_atime_ns, target)


def scan(root):
    """Every path below root (relative, "/"-separated) -> Entry, by lstat:
    symbolic links are entries, never followed. {} when root is missing."""
    found = {}
    if not os.path.isdir(root):
        return found
    pending = [""]
    while pending:
        relative = pending.pop()
        with os.scandir(os.path.join(root, relative) if relative else root) as entries:
            for item in entries:
                path = relative + "/" + item.name if relative else item.name
                info = item.stat(follow_symlinks=False)
                target = os.readlink(item.path) if stat.S_ISLNK(info.st_mode) else None
                entry = entry_from_stat(info, target)
                found[path] = entry
                if entry.kind == DIRECTORY:
                    pending.append(path)
    return found


def scan_sources(links):
    """links[i].path -> {relative path in the source ("" for itself) -> Entry};
    ContextError when a source is missing. Like cp --archive, a source that
    is a symbolic link is linked as such."""
    sources = {}
    for item in links:
        try:
            info = os.lstat(item.source)
        except OSError as exc:
            raise ContextError("%s.source %r: %s" % (item.where, item.source, exc.strerror or exc))
        target = os.readlink(item.source) if stat.S_ISLNK(info.st_mode) else None
        tree = {"": entry_from_stat(info, target)}
        if tree[""].kind == DIRECTORY:
            tree.update(scan(item.source))
        sources[item.path] = tree
    return sources


def reader(dest):
    """read(path): the bytes of the regular file dest/path."""
    def read(path):
        with open(os.path.join(dest, path), "rb") as handle:
            return handle.read()
    return read


# ---------------------------------------------------------------- planning


def wanted_tree(files, links, sources):
    """Every path of the context -> Want: the files, each linked source's
    tree (directories with their source's mode, everything else as links),
    and the directories above them (mode 0755)."""
    wanted = {}

    def add_parents(path):
        parent = posixpath.dirname(path)
        while parent and parent not in wanted:
            wanted[parent] = Want(DIRECTORY, DIRECTORY_MODE, None, None, None)
            parent = posixpath.dirname(parent)

    for item in files:
        wanted[item.path] = Want(FILE, item.mode, item.content, None, None)
        add_parents(item.path)
    for item in links:
        for relative, entry in sources[item.path].items():
            path = item.path + "/" + relative if relative else item.path
            source = posixpath.join(item.source, relative) if relative else item.source
            if entry.kind == DIRECTORY:
                wanted[path] = Want(DIRECTORY, entry.mode, None, source, entry)
            else:
                wanted[path] = Want(LINK, None, None, source, entry)
        add_parents(item.path)
    return wanted


def up_to_date(want, have, read):
    """Whether `have` (an Entry) already is `want`; read() gives the current
    bytes of a regular file and is called only when its size matches."""
    if want.kind == DIRECTORY:
        return have.kind == DIRECTORY and have.mode == want.mode
    if want.kind == FILE:
        same_shape = have.kind == FILE and have.mode == want.mode and have.size == len(want.content)
        return same_shape and read() == want.content
    source = want.entry
    if (have.dev, have.ino) == (source.dev, source.ino):
        return True
    # A copy made where a hard link was impossible: the same kind, size, mode
    # and modification time (a copy keeps them), or the same link target.
    if have.kind != source.kind:
        return False
    if have.kind == SYMLINK:
        return have.target == source.target
    return have.kind == FILE and (have.size, have.mode, have.mtime_ns) == (source.size, source.mode, source.mtime_ns)


def _ancestors(path):
    parent = posixpath.dirname(path)
    while parent:
        yield parent
        parent = posixpath.dirname(parent)


def make_plan(wanted, current, exclusive, read):
    """What turns `current` into `wanted` (both path -> Entry / Want):
    created, updated, and the top-most paths removed. Without `exclusive`
    only what stands in the way goes (what is below a directory that becomes
    a file or a link); with it everything not wanted goes."""
    created, updated = [], []
    for path in sorted(wanted):
        have = current.get(path)
        if have is None:
            created.append(path)
        elif not up_to_date(wanted[path], have, lambda path=path: read(path)):
            updated.append(path)
    going = set()
    for path in current:
        if path in wanted:
            continue
        if exclusive or any(parent in wanted and wanted[parent].kind != DIRECTORY for parent in _ancestors(path)):
            going.add(path)
    removed = sorted(path for path in going if not any(parent in going for parent in _ancestors(path)))
    return Plan(created, updated, removed)


def _text(data, limit):
    """File content for a diff: the text, or a line saying why it is not shown."""
    if len(data) > limit:
        return _too_large(len(data), limit)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        return "(binary, %d bytes)\n" % len(data)
    return text


def _too_large(size, limit):
    return "(%d bytes, not shown: more than %d)\n" % (size, limit)


def _current_text(have, path, read, limit):
    """What is at path now, for the before side of a diff."""
    if have.kind == FILE:
        return _too_large(have.size, limit) if have.size > limit else _text(read(path), limit)
    if have.kind == SYMLINK:
        return "symbolic link to %s\n" % have.target
    return "(%s)\n" % have.kind


def _header(path, entry):
    if entry.kind == FILE:
        return "%s (mode %04o)" % (path, entry.mode)
    return "%s (%s)" % (path, entry.kind)


def diffs(plan, wanted, current, read, limit=DIFF_MAX_BYTES):
    """Ansible diffs (before/after, headers with the mode): one per written
    file and one per removed path (a directory with everything under it);
    linked inputs and directories have none. Contents above `limit` bytes
    and binary contents are described, not shown."""
    found = []
    for path in sorted(plan.created + plan.updated):
        want = wanted[path]
        if want.kind != FILE:
            continue
        have = current.get(path)
        found.append(dict(
            before_header=_header(path, have) if have else "%s (absent)" % path,
            before=_current_text(have, path, read, limit) if have else "",
            after_header="%s (mode %04o)" % (path, want.mode),
            after=_text(want.content, limit),
        ))
    for path in plan.removed:
        have = current[path]
        found.append(dict(before_header=_header(path, have), before=_current_text(have, path, read, limit),
                          after_header="%s (removed)" % path, after=""))
    return found


# ---------------------------------------------------------------- applying


def make_dest(dest):
    """Create dest and its missing parents, each with mode 0755."""
    missing = []
    path = os.path.abspath(dest)
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for path in reversed(missing):
        os.mkdir(path)
        os.chmod(path, DIRECTORY_MODE)


def _remove(target, entry):
    if entry.kind == DIRECTORY:
        shutil.rmtree(target)
    else:
        os.unlink(target)


def write_file(target, content, mode):
    """content into target, atomically: a temporary file in the same
    directory with the final mode, renamed over target."""
    directory, name = os.path.split(target)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".%s." % name, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
            os.fchmod(stream.fileno(), mode)
        os.rename(temporary, target)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise


def link_or_copy(source, target, entry):
    """A hard link target -> source (a symbolic link is linked as such, as cp
    --archive --link does); a copy (content, mode, times) when the file system
    refuses the link."""
    try:
        os.link(source, target, follow_symlinks=False)
        return
    except NotImplementedError:  # no linkat: link what a symbolic link is, copy it below
        if entry.kind != SYMLINK:
            os.link(source, target)
            return
    except OSError as exc:
        if exc.errno not in LINK_FALLBACK_ERRNOS:
            raise
    if entry.kind == SYMLINK:
        os.symlink(entry.target, target)
    elif entry.kind == FILE:
        shutil.copy2(source, target, follow_symlinks=False)
    else:
        raise OSError(errno.ENOTSUP, "cannot copy a %s; hard linking it failed" % entry.kind, source)


def apply_plan(dest, plan, wanted, current):
    """Make dest/... what the plan says (dest exists). Linked directories get
    their source's times back at the end, as cp --archive leaves them.
    ContextError names the path that could not be written."""
    path = "."
    try:
        for path in plan.removed:
            _remove(os.path.join(dest, path), current[path])
        replaced, closed = set(plan.updated), []
        for path in sorted(plan.created + plan.updated):
            want, target = wanted[path], os.path.join(dest, path)
            have = current.get(path) if path in replaced else None
            if want.kind == DIRECTORY:
                if have is not None and have.kind != DIRECTORY:
                    _remove(target, have)
                    have = None
                if have is None:
                    os.mkdir(target)
                # Writable for now when the mode says otherwise (a read-only
                # source directory); its mode is set at the end.
                os.chmod(target, want.mode | 0o700)
                if want.mode & 0o700 != 0o700:
                    closed.append(path)
            elif want.kind == FILE:
                if have is not None and have.kind == DIRECTORY:
                    _remove(target, have)
                write_file(target, want.content, want.mode)
            else:
                if have is not None:
                    _remove(target, have)
                link_or_copy(want.source, target, want.entry)
        for path in sorted(closed, reverse=True):
            os.chmod(os.path.join(dest, path), wanted[path].mode)
        if plan.changed:
            for path in sorted((p for p, w in wanted.items() if w.kind == DIRECTORY and w.entry is not None),
                               reverse=True):
                entry = wanted[path].entry
                os.utime(os.path.join(dest, path), ns=(entry.atime_ns, entry.mtime_ns))
    except OSError as exc:
        raise ContextError("%s: %s" % (os.path.join(dest, path) if path != "." else dest, exc.strerror or exc))
