"""Claiming a run folder: one training at a time writes into it, and never into a foreign folder.

The claim is a lock file created with O_EXCL (atomic on POSIX file systems) that holds the owner's
pid and host. It is released on every exit path; a claim whose process is gone (killed) is stale
and is taken over, so that `--resume` works after SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from dgm.errors import DgmError
from dgm.io import CONFIG
from dgm.utils import output_folder

LOCK = ".dgm.lock"


#: Where launchers put a process's rank: torchrun, SLURM's srun, LSF's jsrun.
RANK_VARIABLES = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


def first_process() -> bool:
    """False in the extra processes of a data-parallel run (they share the first one's claim)."""
    return all(os.environ.get(name, "0") == "0" for name in RANK_VARIABLES)


@contextlib.contextmanager
def claim_run_folder(out: Path, *, resume: bool) -> Iterator[None]:
    """Hold `out` for this process while the block runs.

    Refuses (exit 2) a folder in use by a live process, a file, a finished run (without --resume)
    and a non-empty folder that is not a dgm run.
    """
    if not first_process():
        yield
        return
    # the topmost folder this creates (`out` or a missing parent), removed again if left empty
    created = next((p for p in reversed([out, *out.parents]) if not p.exists()), None)
    output_folder(out)
    lock = out / LOCK
    _acquire(lock)
    try:
        _check_contents(out, resume)
        yield
    finally:
        with contextlib.suppress(OSError):
            if lock.read_text() == _owner():
                lock.unlink()
        if created is not None:  # a run that failed before writing anything leaves no empty folder
            _remove_empty(out, created)


def _remove_empty(out: Path, top: Path) -> None:
    """Remove `out` and its parents up to `top` while they are empty."""
    for folder in [out, *out.parents]:
        try:
            folder.rmdir()  # fails unless empty
        except OSError:
            return
        if folder == top:
            return


def _owner() -> str:
    return f"{os.getpid()} {socket.gethostname()}"


def _acquire(lock: Path) -> None:
    for _ in range(2):  # a second try after taking over a stale claim
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _read(lock)
            if holder is None or _alive(holder):
                pid, _, host = (holder or "").partition(" ")
                elsewhere = bool(host) and host != socket.gethostname()
                who = f"process {pid}" if holder else "another process"
                who += f" on host {host}" if elsewhere else ""
                # a claim from another host cannot be checked from here: say how to release it
                hint = f"; if that run is dead, delete {lock}" if elsewhere else ""
                raise DgmError(
                    f"{lock.parent} is in use by {who} (training into it now); wait for it to finish "
                    f"or choose another --out{hint}"
                ) from None
            with contextlib.suppress(FileNotFoundError):
                if _read(lock) == holder:
                    lock.unlink()  # the holder is gone (killed): its claim is stale
            continue
        with os.fdopen(fd, "w") as f:
            f.write(_owner())
        return
    raise DgmError(f"{lock.parent} is being claimed by another process; choose another --out")


def _read(lock: Path) -> str | None:
    try:
        return lock.read_text()
    except OSError:
        return None


def _alive(holder: str) -> bool:
    """Whether the claim's process runs (a claim from another host, or unreadable, counts as alive)."""
    pid, _, host = holder.partition(" ")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _check_contents(out: Path, resume: bool) -> None:
    if resume:
        return
    if (out / CONFIG).exists():
        raise DgmError(
            f"{out} already holds a run; pass --resume to continue it, choose another --out, "
            "or delete the folder to start over"
        )
    others = [p.name for p in out.iterdir() if p.name != LOCK]
    if others:
        raise DgmError(
            f"--out {out} is not empty and holds no dgm run (it has {others[0]!r}); "
            "choose a new or empty folder"
        )
