"""Importing torch, Lightning and the libraries a run uses, with Python's garbage collector paused.

Those imports make about half a million objects that live as long as the process, and few of them garbage.
The collector runs every few hundred new objects and now and then scans all the older ones again: about a
sixth of the import time (a second of CPU here). After the paused import `gc.freeze()` leaves those objects
out of every later collection.

    with collector_paused():
        from litlab.run import main

Only the first use in a process pauses and freezes: a later one (the same process running a second job,
or a test session) imports what is imported already, and freezing again would keep the garbage of earlier
work alive.
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_used = False


@contextmanager
def collector_paused() -> Iterator[None]:
    global _used
    if _used or not gc.isenabled():
        yield
        return
    _used = True
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.freeze()
