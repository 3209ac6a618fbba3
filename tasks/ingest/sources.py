"""Finding sources and naming them: a file, a folder (recursively) or a glob, each file by its
resolved absolute path; ``source_name`` records a path that is not UTF-8 losslessly."""

from __future__ import annotations

import glob
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

from tasks.ingest.decode import _SURROGATES

log = logging.getLogger(__name__)

_BYTE_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")


def source_name(path: str) -> str:
    """The name a file's documents and rejects are recorded under: its path, or, when the path
    is not UTF-8 (a Latin-1 name from an old share or archive), the path with each byte that is
    not as ``\\xNN``. Lossless: ``file_path`` gives the path back (a backslash of an escaped
    name is ``\\x5c``, and a name holding a literal ``\\xNN`` is escaped too)."""
    if not _SURROGATES.search(path) and not _BYTE_ESCAPE.search(path):
        return path
    return os.fsencode(path).replace(b"\\", b"\\x5c").decode("utf-8", "backslashreplace")


def file_path(name: str) -> str:
    """The path of the file recorded as ``name`` (``source_name``'s inverse)."""
    if not _BYTE_ESCAPE.search(name):
        return name
    parts = _BYTE_ESCAPE.split(name)  # text, hex digits, text, ...
    return os.fsdecode(b"".join(bytes([int(p, 16)]) if i % 2 else p.encode()
                                for i, p in enumerate(parts)))


def real_path(path: str) -> str:
    """The path a file is known by: absolute, with every symlink and ``..`` resolved, so that
    ``x/../src/a.txt``, ``src/a.txt`` run from elsewhere, and a link to ``src`` or to ``a.txt``
    all name one file. A link that leads nowhere (dangling, a loop) keeps its own name, in
    its folder's resolved path: it is what there is to name."""
    try:
        return os.path.realpath(path, strict=True)
    except OSError:
        folder, name = os.path.split(path)
        return os.path.join(os.path.realpath(folder or os.curdir), name)


_ROW_SUFFIX = re.compile(r"(.*)#\d+-?", re.DOTALL)  # "f.jsonl#3", "f.jsonl#7-" (rows 7 on)


def resolved_source(name: str, file: str | None = None, folder: str | None = None) -> str:
    """A source as recorded, named as this version names it: the ``real_path`` of its file
    (as ``source_name``), then its row. Earlier versions recorded a source as typed, often
    relative to the folder the run was started in (``data/raw/feed.jsonl#3``): ``folder`` is
    that folder when known (else the current one), ``file`` the source's file when known (a
    sighting's ``path``); else a name ending in ``#N`` is row N of a file unless a file of
    that very name exists."""
    if file is None or not name.startswith(file):
        file = name
        row = _ROW_SUFFIX.fullmatch(name)
        if row is not None and not os.path.lexists(_joined(folder, name)):
            file = row[1]
    return source_name(real_path(_joined(folder, file))) + name[len(file):]


def _joined(folder: str | None, name: str) -> str:
    path = file_path(name)
    return path if folder is None else os.path.join(file_path(folder), path)


def _walk(root: Path, exclude: str | None = None, excluded: list[str] | None = None
          ) -> Iterator[Path]:
    """Files under ``root``, following directory symlinks once (a symlink loop is cut).

    A directory that cannot be listed is yielded itself, so that reading it gives an
    ``unreadable`` reject instead of its files vanishing without a word. The directory whose
    real path is ``exclude`` (the output) is not entered; it is noted in ``excluded``."""
    seen: set[str] = set()
    failed: list[OSError] = []
    hidden = 0
    for dirpath, dirnames, filenames in os.walk(root, onerror=failed.append, followlinks=True):
        yield from _failed_dirs(failed)
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            log.warning("skipping %s: a symlink loop leads back to %s", dirpath, real)
            continue
        seen.add(real)
        if real == exclude:
            dirnames[:] = []
            if excluded is not None:
                excluded.append(dirpath)
            continue
        hidden += sum(d.startswith((".", "_")) for d in dirnames)
        hidden += sum(f.startswith((".", "_")) for f in filenames)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")))
        for name in sorted(filenames):
            if not name.startswith((".", "_")):
                yield Path(dirpath) / name
    yield from _failed_dirs(failed)
    if hidden:
        log.info("%s: skipped %d hidden entries (names starting with '.' or '_')", root, hidden)


def _failed_dirs(failed: list[OSError]) -> Iterator[Path]:
    while failed:
        exc = failed.pop(0)
        log.warning("cannot list %s: %s", exc.filename, exc.strerror or exc)
        if exc.filename:
            yield Path(os.fsdecode(exc.filename))


def find_sources(source: str | os.PathLike[str], exclude: str | os.PathLike[str] | None = None
                 ) -> list[str]:
    """Files named by ``source``: a file, a directory (recursively) or a glob pattern, each by
    its ``real_path`` and once (a file also reached through a symlink is one file).

    Nothing under ``exclude`` (the output folder, when it lies inside the source) is a source:
    a run must never read back its own tables and reports. One warning says so."""
    text = file_path(os.fspath(source))  # a name that is not UTF-8 may come escaped
    path = Path(text)
    out = None if exclude is None else os.path.realpath(exclude)
    excluded: list[str] = []

    def outside(p: str) -> bool:
        if out is not None and (os.path.realpath(p) + os.sep).startswith(out + os.sep):
            excluded.append(p)
            return False
        return True

    if path.is_dir():
        files = [str(p) for p in _walk(path, out, excluded) if outside(str(p))]
    elif path.exists() or path.is_symlink():
        files = [str(path)] if outside(text) else []
    elif glob.has_magic(text):
        found: dict[str, None] = {}  # ordered set: "data/**" matches a directory and its files
        for match in sorted(glob.glob(text, recursive=True)):
            p = Path(match)
            if p.is_dir():
                found.update((str(f), None) for f in _walk(p, out, excluded) if outside(str(f)))
            elif outside(match):
                found[match] = None
        if not found and not excluded:
            raise FileNotFoundError(f"source pattern {text!r} matches no file")
        files = list(found)
    else:
        raise FileNotFoundError(
            f"source {text!r} does not exist: give a file, a directory or a glob such as "
            "'data/**/*.jsonl'")
    if excluded:
        log.warning("the output folder %s is inside the source %s: its tables and reports are "
                    "not read as input", exclude, text)
    real = list(dict.fromkeys(real_path(f) for f in files))
    if len(real) < len(files):
        log.info("%s: %d files are reached twice (through a symlink as well): each is read once",
                 text, len(files) - len(real))
    return real
