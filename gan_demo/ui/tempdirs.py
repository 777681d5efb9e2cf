"""The app's temp folders: all under one root per process, removed when the process exits."""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from pathlib import Path

ROOT_PREFIX = "gan_demo_run_"  # the root is ROOT_PREFIX<pid>_<random> in the system temp folder

_root: Path | None = None
_lock = threading.Lock()


def temp_dir(prefix: str) -> Path:
    """A new empty folder prefix<random> under this process' root.

    Saved runs, API results, uploads, Explore's files and drawings all live there, so one rmtree at
    exit removes them; roots left by processes that died without exiting (killed) go at the next start.
    """
    return Path(tempfile.mkdtemp(prefix=prefix, dir=root()))


def root() -> Path:
    """This process' root folder, made on first use (and removed at exit)."""
    global _root
    with _lock:
        if _root is None:
            _remove_orphans()
            _root = Path(tempfile.mkdtemp(prefix=f"{ROOT_PREFIX}{os.getpid()}_"))
            atexit.register(_remove_root, _root, os.getpid())
        return _root


def _remove_root(root: Path, owner: int) -> None:
    if os.getpid() == owner:  # a forked child inherits the atexit hook, not the folders
        shutil.rmtree(root, ignore_errors=True)


def _remove_orphans() -> None:
    """Remove roots whose process is gone (a kill -9 skips atexit)."""
    for root in Path(tempfile.gettempdir()).glob(f"{ROOT_PREFIX}*_*"):
        try:
            pid = int(root.name[len(ROOT_PREFIX):].split("_", 1)[0])
            os.kill(pid, 0)  # raises ProcessLookupError when no such process exists
        except ProcessLookupError:
            shutil.rmtree(root, ignore_errors=True)
        except (ValueError, PermissionError, OSError):  # not ours to judge: another user's, or a stray name
            continue
