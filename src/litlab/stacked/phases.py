"""How long each phase of a stacked sweep took, as log lines that scripts/bench_stacked.py reads.

    with phase("folders", len(jobs)):
        ...

logs `phase folders: 0.412 s wall, 0.398 s cpu (200 jobs)` at DEBUG on the `litlab.stacked.phases` logger
when the block ends: `hydra.verbose=litlab.stacked.phases` shows them. CPU time is the process's (all
threads), which moves less than wall time when other work shares the machine; the `write` phase (waiting for
the writer's processes to finish the members' files) has theirs.
"""

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass

log = logging.getLogger("litlab.stacked.phases")


@dataclass
class Clock:
    """Wall and CPU seconds added up over several stretches (`with clock:`; a stretch inside one counts once)."""

    wall: float = 0.0
    cpu: float = 0.0
    depth: int = 0

    def __enter__(self):
        if self.depth == 0:
            self._start = time.perf_counter(), self.cpu_seconds()
        self.depth += 1
        return self

    def __exit__(self, *exc):
        self.depth -= 1
        if self.depth == 0:
            wall, cpu = self._start
            self.wall += time.perf_counter() - wall
            self.cpu += self.cpu_seconds() - cpu

    @staticmethod
    def cpu_seconds() -> float:
        return time.process_time()


class ChildClock(Clock):
    """Wall seconds, and the CPU seconds of the child processes that ended meanwhile (the writer's workers: their
    whole lives), not this process's."""

    @staticmethod
    def cpu_seconds() -> float:
        return _children_cpu()


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def report(name: str, clock: Clock, jobs: int | None = None) -> None:
    count = f" ({jobs} jobs)" if jobs is not None else ""
    log.debug("phase %s: %.3f s wall, %.3f s cpu%s", name, clock.wall, clock.cpu, count)


@contextmanager
def phase(name: str, jobs: int | None = None, clock: Clock | None = None):
    """Time the block (added to `clock`'s earlier stretches, when given) and log the phase's total."""
    clock = clock or Clock()
    try:
        with clock:
            yield clock
    finally:
        report(name, clock, jobs)
