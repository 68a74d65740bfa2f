"""Faults of the file system as one line each, and whether the writer of a leftover still runs."""

import errno
import os

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


def running(pid: int) -> bool:
    """True when a process with this pid runs on this machine (it may be another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but not ours
        return True
    return True
