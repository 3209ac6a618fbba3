"""Failpoints: named places where a test can make the process die, as a crash would.

Set ``MTCLEAN_FAILPOINT=name:n`` (e.g. ``publish:3``) and the n-th time this process reaches
``failpoint("publish")`` it is killed with SIGKILL (with its whole process group when it leads
one), leaving the output exactly as a power cut there would. Unset, a failpoint costs one dict
lookup. Used by tests/flows/test_crash.py; never set it in production.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_hits: Counter[str] = Counter()


def failpoint(name: str) -> None:
    spec = os.environ.get("MTCLEAN_FAILPOINT")
    if not spec:
        return
    target, _, count = spec.partition(":")
    if target != name:
        return
    _hits[name] += 1
    if _hits[name] >= int(count or 1):
        if os.getpgid(0) == os.getpid():
            os.killpg(os.getpid(), signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)
