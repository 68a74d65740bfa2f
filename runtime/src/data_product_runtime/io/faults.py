"""The file system's faults: one line each, appends that are all or nothing, and leftovers
whose writer is gone (files name their writer's pid)."""

import errno
import os
from pathlib import Path

_REMEDIES = {
    errno.ENOSPC: "free some space and run it again (nothing partial was kept)",
    errno.EDQUOT: "free some space and run it again (nothing partial was kept)",
    errno.EACCES: "check the permissions of that file and its folder",
    errno.EPERM: "check the permissions of that file and its folder",
    errno.EROFS: "the file system is read-only: choose another location",
}


def os_error_line(error: OSError) -> str:
    """One line naming the file, the fault and what to do (Arrow's errors carry no errno)."""
    where = f"{error.filename}: " if error.filename else ""
    what = error.strerror or str(error)
    remedy = _REMEDIES.get(error.errno or 0)
    if remedy is None and "No space left on device" in str(error):
        remedy = _REMEDIES[errno.ENOSPC]
    return f"{where}{what}" + (f"; {remedy}" if remedy else "")


def abandoned(pid: str) -> bool:
    """True when ``pid`` (as written in a leftover's name) runs no process on this machine."""
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, but another user's
        return False
    return False


def append_whole(path: Path, data: bytes, *, sync: bool = False) -> None:
    """Append all of ``data`` or, when a write fails part way (a full disk), none of it."""
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(descriptor).st_size
        try:
            written = 0
            while written < len(data):  # os.write may write less than it was given
                written += os.write(descriptor, data[written:])
            if sync:
                os.fsync(descriptor)
        except OSError:
            os.ftruncate(descriptor, size)
            raise
    finally:
        os.close(descriptor)
