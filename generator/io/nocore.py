"""No core dump of a gen-secret process: its memory holds the registry password."""

from __future__ import annotations

import sys

from generator.io import libc


def forbid_core_dumps() -> None:
    """RLIMIT_CORE 0 and PR_SET_DUMPABLE 0, for this process and the workers it forks.

    A SIGSEGV under `ulimit -c unlimited` left a 754 MB core file in the working folder that
    held the password 1,902 times. The limit stops a core file; "not dumpable" also stops a
    core handed to a pipe (systemd-coredump, apport) and ptrace by other processes of the
    user.
    """
    import resource

    # Lowering a limit is always allowed; the hard limit too, so nothing raises it again.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if sys.platform != "linux":
        return
    pr_set_dumpable = 4  # <linux/prctl.h>
    libc.call("prctl", pr_set_dumpable, 0, 0, 0, 0)
