"""Safe file writes, shared by `generate`, `fmt`, `run` and the Python API.

Every file nndsl writes goes through `write_atomic` (one file) or `replace_set` (the files of
one `generate`):

* the new content is written to a fresh temporary file made with `tempfile.mkstemp` in the
  target's own folder (`O_CREAT | O_EXCL`: an existing path, or a symlink planted at a
  predictable name, is never opened or followed), flushed and `fsync`ed, then moved over the
  target with `os.replace`, which replaces the directory entry itself: a symlink at the target
  is replaced, never written through;
* on any failure (disk full, permission, interrupt) the temporary file is removed and the
  target is untouched.

`replace_set` writes every file of a set into a fresh staging folder next to them first, and
only then moves them into place one `os.replace` each, with SIGINT, SIGTERM and SIGHUP held
back until the last one is in place (then acted on).  What is guaranteed: each target is always either its
complete old or its complete new content; an interrupt (Ctrl-C, `kill`) before the moves
leaves the old set, after them the new set.  Only a SIGKILL or a power loss during the moves
themselves (a few renames, microseconds) can leave some files old and some new; the staging
folder such a death leaves behind (`.nndsl-generate-<pid>-*`) is removed by the next
`replace_set` in that folder.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import stat
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress

TMP_SUFFIX = ".nndsl-tmp"
STAGING_PREFIX = ".nndsl-generate-"


def _bytes(content: str | bytes) -> bytes:
    return content.encode("utf-8") if isinstance(content, str) else content


def _default_mode() -> int:
    """The mode a newly created file gets (0o666 less the umask), as `open()` would give it."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def default_mode() -> int:
    """The mode a newly created file gets (0o666 less the umask), as `open()` would give it."""
    return _default_mode()


def _write_new(folder: str, name: str, data: bytes, mode: int) -> str:
    """A new temporary file in `folder` holding `data` (fsynced); its path."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name[:80]}.", suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def refuse_special(path: str | os.PathLike) -> None:
    """Raise OSError when `path` is empty, or names something other than a regular file or a
    symlink: `os.replace` would put a regular file in the place of a device, a pipe or a socket
    (`-o /dev/full`, run as root, replaced the device)."""
    path = os.fspath(path)
    if not path:
        raise FileNotFoundError(errno.ENOENT, "the path is empty", path)
    try:
        st = os.lstat(path)
    except OSError:
        return  # nothing there yet (or unreadable: the write itself says why)
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "it is a folder", path)
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
        raise FileExistsError(
            errno.EEXIST, "it is not a regular file (a device, a pipe or a socket)", path
        )


def unreadable(path: str | os.PathLike, what: str) -> str | None:
    """Why `path` cannot be read as `what` ("checkpoint", "input file"), a regular file; None
    when it can."""
    shown = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return f"no {what} at {shown}"
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return f"cannot read the {what} {shown}: {reason}"
    if stat.S_ISDIR(st.st_mode):
        return f"the {what} {shown} is a folder, not a file"
    if not stat.S_ISREG(st.st_mode):
        return f"the {what} {shown} is not a regular file (a device, a pipe or a socket)"
    return None


def write_atomic(path: str | os.PathLike, content: str | bytes, *, mode: int | None = None) -> None:
    """Replace `path` (a file, or nothing yet) by `content` atomically; see the module docstring.
    `mode`: the new file's permission bits (default: as a new file would get)."""
    path = os.fspath(path)
    refuse_special(path)
    folder, name = os.path.split(path)
    tmp = _write_new(
        folder or ".", name, _bytes(content), _default_mode() if mode is None else mode
    )
    try:
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


def write_through(path: str | os.PathLike, content: str | bytes) -> str:
    """Rewrite the file `path` names atomically, keeping its permission bits.  When `path` is a
    symlink, the file it points to is rewritten (the link stays a link).  Returns the real path."""
    real = os.path.realpath(os.fspath(path))
    st = os.stat(real)
    if not stat.S_ISREG(st.st_mode):
        raise IsADirectoryError(f"`{os.fspath(path)}` is not a regular file")
    write_atomic(real, content, mode=stat.S_IMODE(st.st_mode))
    return real


@contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold back SIGINT, SIGTERM and SIGHUP until the block ends, then act on them as before
    (Python-level handlers, so it holds whichever thread the OS delivers the signal to; only in
    the main thread, the only one Python runs signal handlers in)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = [signal.SIGINT, signal.SIGTERM] + (
        [signal.SIGHUP] if hasattr(signal, "SIGHUP") else []
    )
    caught: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda signum, frame: caught.append(signum)) for sig in wanted
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(caught):
            handler = previous[sig]
            if callable(handler):
                handler(sig, None)
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), sig)


def replace_set(folder: str | os.PathLike, files: Mapping[str, str | bytes]) -> list[str]:
    """Write `files` (name → content, names without folders) into `folder` as one set; see the
    module docstring for what an interruption leaves.  Returns the written paths."""
    folder = os.fspath(folder)
    remove_stale_staging(folder)
    with _terminate_as_interrupt():
        staging = tempfile.mkdtemp(dir=folder, prefix=f"{STAGING_PREFIX}{os.getpid()}-")
        return _replace_set(folder, staging, files)


def _replace_set(folder: str, staging: str, files: Mapping[str, str | bytes]) -> list[str]:
    staged: list[tuple[str, str]] = []
    try:
        mode = _default_mode()
        for name, content in files.items():
            tmp = os.path.join(staging, name)
            # a fresh folder of ours: O_EXCL keeps it so
            fd = os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600
            )
            with os.fdopen(fd, "wb") as fh:
                fh.write(_bytes(content))
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, mode)
            staged.append((tmp, os.path.join(folder, name)))
        for _, target in staged:
            refuse_special(target)
        with deferred_signals():
            for tmp, target in staged:
                os.replace(tmp, target)
        _fsync_folder(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [target for _, target in staged]


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt meanwhile, so that cleanup runs (no temporary files are
    left behind by `kill`)."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _fsync_folder(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_staging(folder: str) -> None:
    """Remove staging folders of `replace_set` runs that died (their process is gone)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not name.startswith(STAGING_PREFIX):
            continue
        pid = name[len(STAGING_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        path = os.path.join(folder, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
