"""One process per workdir: an exclusive, re-entrant lock file `workdir/.lock`.

Two processes writing the same checkpoints and `metrics.jsonl` would interleave
two runs into one record. The lock file is created atomically (`O_CREAT|O_EXCL`)
and names its holder (pid, host, start time); a second process is refused at
once. A lock left by a process that died on this host is taken over with a
warning. Within one process the lock is re-entrant: an experiment can hold it
around its whole run while `genjax.train.train` takes it again on the same
folder. In a multi-process run (`jax.distributed.initialize()`) every process
works in the same workdir and process 0 alone holds the lock file.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from genjax.train.sharding import is_primary_process

log = logging.getLogger("genjax")

LOCK_FILE = ".lock"

# Workdirs this process holds, by resolved path, with how many holders nest there.
_held: dict[Path, int] = {}
_held_pid = os.getpid()  # a forked child inherits `_held` but holds none of those locks
_held_guard = threading.Lock()


class WorkdirLockedError(RuntimeError):
    """Another live process holds the workdir's lock."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    except OSError:
        return False
    return True


def _read_holder(path: Path) -> dict[str, Any] | None:
    """The lock file's JSON, or None when it is missing; {} when it cannot be parsed."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        holder = json.loads(text)
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


def _describe(holder: dict[str, Any]) -> str:
    since = holder.get("since")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if since else "?"
    return f"pid {holder.get('pid', '?')} on {holder.get('host', '?')} since {when}"


class WorkdirLock:
    """Holds `workdir/.lock` while in use (a context manager; `acquire`/`release` also work).

    Args:
      workdir: the folder to lock; created if missing.

    Raises:
      WorkdirLockedError: on `acquire`, when a live process holds the lock.
    """

    def __init__(self, workdir: str | Path):
        self.workdir = Path(workdir)
        self.path = self.workdir / LOCK_FILE
        self._key: Path | None = None

    def acquire(self) -> WorkdirLock:
        if self._key is not None:
            raise RuntimeError(f"{self.path} is already held by this WorkdirLock object")
        self.workdir.mkdir(parents=True, exist_ok=True)
        key = self.workdir.resolve()
        global _held_pid
        with _held_guard:
            if _held_pid != os.getpid():
                _held.clear()
                _held_pid = os.getpid()
            if key in _held:  # this process holds it already: nest
                _held[key] += 1
                self._key = key
                return self
            self._create()
            _held[key] = 1
            self._key = key
        return self

    def _create(self) -> None:
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        if not is_primary_process():  # process 0 of a multi-process run holds the file
            return
        for _ in range(20):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._take_over_if_stale(me["host"])
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            return
        raise WorkdirLockedError(f"could not take the lock {self.path}: it keeps changing hands")

    def _take_over_if_stale(self, host: str) -> None:
        """Removes a lock whose holder is dead on this host; raises if the holder lives."""
        holder = _read_holder(self.path)
        if holder == {}:  # being written by its creator right now, or garbage: look again
            time.sleep(0.1)
            holder = _read_holder(self.path)
        if holder is None:  # released meanwhile
            return
        pid = holder.get("pid")
        same_host = holder.get("host") == host
        if same_host and isinstance(pid, int) and pid != os.getpid() and _pid_alive(pid):
            raise WorkdirLockedError(
                f"{self.workdir} is in use by {_describe(holder)} (lock file {self.path}); "
                "wait for that run to end or stop it"
            )
        if not same_host and holder:
            raise WorkdirLockedError(
                f"{self.workdir} is in use by {_describe(holder)} (lock file {self.path}); "
                "if that run is gone, delete the lock file"
            )
        # Dead holder (or an unreadable file): move it aside under a unique name, so that of
        # two processes taking over at once only one removes it.
        aside = self.path.with_name(f"{LOCK_FILE}.stale.{os.getpid()}.{threading.get_ident()}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        if _read_holder(aside) != holder:  # a live holder's fresh file: put it back
            try:
                os.link(aside, self.path)
            except FileExistsError:
                pass
            aside.unlink(missing_ok=True)
            return
        aside.unlink(missing_ok=True)
        log.warning(
            "taking over the stale lock %s (%s is no longer running)",
            self.path, _describe(holder) if holder else "an unreadable holder",
        )  # fmt: skip

    def release(self) -> None:
        key, self._key = self._key, None
        if key is None:
            return
        with _held_guard:
            _held[key] -= 1
            if _held[key] > 0:
                return
            del _held[key]
            holder = _read_holder(self.path)
            mine = (os.getpid(), socket.gethostname())
            if holder and (holder.get("pid"), holder.get("host")) == mine:
                self.path.unlink(missing_ok=True)

    def __enter__(self) -> WorkdirLock:
        return self.acquire()

    def __exit__(self, *exc_info: Any) -> None:
        self.release()
