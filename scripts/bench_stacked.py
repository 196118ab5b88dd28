"""Whole-process wall time and peak memory of sweeps with the basic and the stacked launcher, and of
hand-written PyTorch scripts of the same studies.

    python scripts/bench_stacked.py                               # optimizers and weight_decay, 3 rounds
    python scripts/bench_stacked.py --studies fashion --rounds 1 --json stacked.json

Studies: `optimizers` (`python train.py -m sweep=optimizers`, 18 jobs; yardstick
scripts/handwritten_optimizers.py), `weight_decay` (`sweep=weight_decay`, 18 jobs;
scripts/handwritten_weight_decay.py) and `fashion` (20 jobs on FashionMNIST: the default MLP with
`optimizer.lr=0.03,0.1,0.3,1 seed=0,1,2,3,4 trainer.max_epochs=10`, no hand-written script). Each round runs
every command of a study once, one after another, so a change in the machine's load weighs on all of
them; the figures are medians over rounds. Peak memory is the largest resident set of the process.

Two clocks: `--clock wall` (default) times each process from start to exit; `--clock cpu` adds up the CPU
time the process used (user + system, from `os.wait4`), which moves much less when other work shares the
machine (it still grows somewhat: caches and memory bandwidth are shared). Both are always recorded.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

STUDIES = {
    "optimizers": (["sweep=optimizers"], "scripts/handwritten_optimizers.py"),
    "weight_decay": (["sweep=weight_decay"], "scripts/handwritten_weight_decay.py"),
    "fashion": (["optimizer.lr=0.03,0.1,0.3,1", "seed=0,1,2,3,4", "trainer.max_epochs=10"], None),
}


def measure(command: list[str], env: dict) -> dict:
    """Wall seconds, CPU seconds (user + system) and peak resident memory (MiB) of one process, which must succeed."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: a chatty process never blocks on it
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=errors, env={**os.environ, **env}
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            errors.seek(0)
            raise SystemExit(f"failed: {' '.join(command)}\n{errors.read().decode()[-2000:]}")
    return {"wall_s": seconds, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_mib": usage.ru_maxrss / 1024}


def commands(study: str, extra: list[str], folder: Path) -> dict[str, list[str]]:
    overrides, script = STUDIES[study]
    train = [sys.executable, "train.py", "-m", *overrides, *extra]
    out = {
        launcher: [*train, f"hydra/launcher={launcher}", f"hydra.sweep.dir={folder / launcher}"]
        for launcher in ("basic", "stacked")
    }
    if script and not extra:  # the hand-written scripts run the whole study only
        out["handwritten"] = [sys.executable, script]
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", default="optimizers,weight_decay", help=f"comma-separated: {', '.join(STUDIES)}")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="OMP_NUM_THREADS for every process (on a machine busy with other work, 1 avoids "
        "threads waiting on each other; default: torch's choice)",
    )
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="the time the medians and ratios use: wall (start to exit) or cpu (user + system "
        "time of the process, steadier on a busy machine); both are recorded",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    parser.add_argument(
        "overrides", nargs="*", help="appended to the sweeps (a shortened check), e.g. trainer.max_epochs=2"
    )
    args = parser.parse_args(argv)
    env = {"OMP_NUM_THREADS": str(args.threads)} if args.threads else {}
    results = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "threads": args.threads,
            "load_average_at_start": os.getloadavg(),
        },
        "rounds": args.rounds,
        "clock": args.clock,
        "overrides": args.overrides,
        "studies": {},
    }
    clock = f"{args.clock}_s"
    for study in args.studies.split(","):
        runs: dict[str, list[dict]] = {}
        with tempfile.TemporaryDirectory() as folder:
            for round_ in range(args.rounds):
                for name, command in commands(study, args.overrides, Path(folder) / str(round_)).items():
                    runs.setdefault(name, []).append(measure(command, env))
                    run = runs[name][-1]
                    print(
                        f"{study} {name} round {round_}: {run['wall_s']:.1f} s wall, {run['cpu_s']:.1f} s cpu, "
                        f"load {os.getloadavg()[0]:.1f}",
                        file=sys.stderr,
                    )
        figures = {
            name: {
                "median_s": statistics.median(r[clock] for r in rs),
                "wall_s": [round(r["wall_s"], 2) for r in rs],
                "cpu_s": [round(r["cpu_s"], 2) for r in rs],
                "peak_mib": max(r["peak_mib"] for r in rs),
            }
            for name, rs in runs.items()
        }
        stacked = figures["stacked"]["median_s"]
        figures["speedup_over_basic"] = figures["basic"]["median_s"] / stacked
        if "handwritten" in figures:
            figures["slowdown_vs_handwritten"] = stacked / figures["handwritten"]["median_s"]
        results["studies"][study] = figures
    results["machine"]["load_average_at_end"] = os.getloadavg()
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return results


if __name__ == "__main__":
    main()
