"""Whole-process wall time and peak memory of sweeps with the basic and the stacked launcher, and of
hand-written PyTorch scripts of the same studies.

    python scripts/bench_stacked.py                               # optimizers and weight_decay, 3 rounds
    python scripts/bench_stacked.py --studies fashion --rounds 1 --json stacked.json
    python scripts/bench_stacked.py --scale --threads 1 --clock cpu --json scale.json   # the 200-job Iris grid
    python scripts/bench_stacked.py --workers 2 --threads 1 --json workers.json   # 2 groups: 2 processes or 1

Studies: `optimizers` (`python train.py -m sweep=optimizers`, 18 jobs; yardstick
scripts/handwritten_optimizers.py), `weight_decay` (`sweep=weight_decay`, 18 jobs;
scripts/handwritten_weight_decay.py) and `fashion` (20 jobs on FashionMNIST: the default MLP with
`optimizer.lr=0.03,0.1,0.3,1 seed=0,1,2,3,4 trainer.max_epochs=10`, no hand-written script). Each round runs
every command of a study once, one after another, so a change in the machine's load weighs on all of
them; the figures are medians over rounds. Peak memory is the largest resident set of the process.

Scale mode (`--scale`): the 200-job Iris grid, `python train.py -m experiment=iris_optimizers
optimizer.lr=<10 values> seed=range(20)` (200 epochs), with the stacked launcher, as one process broken into
phases (start-up, compose, folders, build, train, ..., report: the `phase` lines the stacked launcher logs,
litlab/stacked/phases.py, and the log's timestamps), against scripts/handwritten_iris_grid.py (the same sweep
as one batched PyTorch program) and against the basic launcher on a sample of 10 of the jobs, scaled to the
whole grid by the number of jobs. `--lrs`, `--seeds` and the overrides (`trainer.max_epochs=2`) shrink it.
`front_ms_per_job` is the CPU time of composing and making folders, less Hydra's compositions, per job.

Workers mode (`--workers N`): the Iris grid (`--lrs`, `--seeds`, 200 epochs) in N groups (`max_members` set so),
trained by `hydra.launcher.workers=N` (N local processes at once, each with its share of the cores) against
`workers=1` (the groups one after another in the launcher's process); wall time of the whole process. With
`--threads 1` each group has one core either way.

Two clocks: `--clock wall` (default) times each process from start to exit; `--clock cpu` adds up the CPU
time the process used (user + system, from `os.wait4`), which moves much less when other work shares the
machine (it still grows somewhat: caches and memory bandwidth are shared). Both are always recorded.
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

STUDIES = {
    "optimizers": (["sweep=optimizers"], "scripts/handwritten_optimizers.py"),
    "weight_decay": (["sweep=weight_decay"], "scripts/handwritten_weight_decay.py"),
    "fashion": (["optimizer.lr=0.03,0.1,0.3,1", "seed=0,1,2,3,4", "trainer.max_epochs=10"], None),
}


def measure(command: list[str], env: dict, output: Path | None = None) -> dict:
    """Wall seconds, CPU seconds (user + system) and peak resident memory (MiB) of one process, which must succeed;
    what it prints goes to `output` when given."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: a chatty process never blocks on it
        stdout = open(output, "wb") if output else subprocess.DEVNULL
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=stdout,
            stderr=errors if output is None else subprocess.STDOUT,
            env={**os.environ, **env},
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        if output:
            stdout.close()
        if os.waitstatus_to_exitcode(status) != 0:
            errors.seek(0)
            said = output.read_text()[-2000:] if output else errors.read().decode()[-2000:]
            raise SystemExit(f"failed: {' '.join(command)}\n{said}")
    return {"wall_s": seconds, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_mib": usage.ru_maxrss / 1024}


GRID_LRS = (0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0)  # scripts/handwritten_iris_grid.py's
PHASE = re.compile(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\].*? phase ([\w ]+): ([\d.]+) s wall, ([\d.]+) s cpu")
STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]")


def emit(results: dict, json_path: Path | None) -> dict:
    """The results printed as JSON, and written to `json_path` when given."""
    text = json.dumps(results, indent=2)
    print(text)
    if json_path:
        json_path.write_text(text + "\n")
    return results


def _stamp(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def phases(log: str, started: float, ended: float) -> dict:
    """The stacked launcher's phases from its log (summed over groups), with start-up and report from timestamps:
    start-up from the process's start to the first phase's start, report from the last phase's end to the log's
    last line, exit from there to the process's end."""
    found: dict[str, dict] = {}
    first = last = None
    for line in log.splitlines():
        match = PHASE.search(line)
        if match:
            stamp, name, wall, cpu = _stamp(match[1]), match[2], float(match[3]), float(match[4])
            entry = found.setdefault(name, {"wall_s": 0.0, "cpu_s": 0.0})
            entry["wall_s"] += wall
            entry["cpu_s"] += cpu
            first = stamp - wall if first is None else min(first, stamp - wall)
            last = stamp if last is None else max(last, stamp)
    stamps = [_stamp(m[1]) for m in map(STAMP.match, log.splitlines()) if m]
    if first is not None:
        found["startup"] = {"wall_s": first - started}
        found["report"] = {"wall_s": max(stamps) - last}
        found["exit"] = {"wall_s": ended - max(stamps)}
    return found


def scale(args, env: dict) -> dict:
    """The Iris grid stacked, by hand and (a sample) basic: one process each, `args.rounds` rounds."""
    load_at_start = os.getloadavg()
    lrs = args.lrs.split(",")
    jobs = len(lrs) * args.seeds
    sample_seeds = max(1, min(args.seeds, args.basic_sample // len(lrs)))
    grid = ["experiment=iris_optimizers", f"optimizer.lr={','.join(lrs)}"]
    epochs = [o for o in args.overrides if o.startswith("trainer.max_epochs=")]
    hand_epochs = epochs[-1].split("=")[1] if epochs else "200"
    runs: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(args.rounds):
            here = Path(folder) / str(round_)
            here.mkdir()
            train = [sys.executable, "train.py", "-m", *grid, *args.overrides]
            commands = {
                "stacked": [
                    *train,
                    f"seed=range({args.seeds})",
                    "hydra/launcher=stacked",
                    "hydra.verbose=litlab.stacked.phases",  # the phase lines, logged at DEBUG
                ],
                "handwritten": [
                    sys.executable,
                    "scripts/handwritten_iris_grid.py",
                    f"--lrs={args.lrs}",
                    f"--seeds={args.seeds}",
                    f"--epochs={hand_epochs}",
                    f"--out={here / 'handwritten'}",
                ],
                "basic_sample": [*train, f"seed=range({sample_seeds})", "hydra/launcher=basic"],
            }
            for name, command in commands.items():
                if name != "handwritten":
                    command = [*command, f"hydra.sweep.dir={here / name}"]
                log = here / f"{name}.log"
                started = time.time()
                run = measure(command, env, output=log)
                runs.setdefault(name, []).append(run)
                if name == "stacked":
                    run["phases"] = phases(log.read_text(), started, time.time())
                print(
                    f"scale {name} round {round_}: {run['wall_s']:.1f} s wall, {run['cpu_s']:.1f} s cpu, "
                    f"load {os.getloadavg()[0]:.1f}",
                    file=sys.stderr,
                )
    clock = f"{args.clock}_s"

    def summary(rs: list[dict]) -> dict:
        return {
            "median_s": statistics.median(r[clock] for r in rs),
            "wall_s": [round(r["wall_s"], 2) for r in rs],
            "cpu_s": [round(r["cpu_s"], 2) for r in rs],
            "peak_mib": max(r["peak_mib"] for r in rs),
        }

    stacked = summary(runs["stacked"])
    stacked["phases"] = runs["stacked"][-1]["phases"]  # the last round's
    steps = stacked["phases"]
    front_cpu = sum(steps.get(name, {}).get("cpu_s", 0.0) for name in ("compose", "folders"))
    front_cpu -= steps.get("compositions", {}).get("cpu_s", 0.0)
    stacked["front_ms_per_job"] = 1000 * front_cpu / jobs
    basic = summary(runs["basic_sample"])
    sample_jobs = len(lrs) * sample_seeds
    basic["jobs"] = sample_jobs
    basic["scaled_to_grid_s"] = basic["median_s"] * jobs / sample_jobs
    results = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "threads": args.threads,
            "load_average_at_start": load_at_start,
        },
        "rounds": args.rounds,
        "clock": args.clock,
        "overrides": args.overrides,
        "scale": {
            "jobs": jobs,
            "lrs": [float(v) for v in lrs],
            "seeds": args.seeds,
            "stacked": stacked,
            "handwritten": summary(runs["handwritten"]),
            "basic_sample": basic,
        },
    }
    grid = results["scale"]
    grid["ratio_vs_handwritten"] = stacked["median_s"] / grid["handwritten"]["median_s"]
    grid["speedup_over_basic"] = basic["scaled_to_grid_s"] / stacked["median_s"]
    results["machine"]["load_average_at_end"] = os.getloadavg()
    return emit(results, args.json)


def workers(args, env: dict) -> dict:
    """`hydra.launcher.workers=N` against the same groups trained one after another in one process (wall)."""
    lrs, n = args.lrs.split(","), args.workers
    jobs = len(lrs) * args.seeds
    grid = [
        sys.executable,
        "train.py",
        "-m",
        "experiment=iris_optimizers",
        f"optimizer.lr={','.join(lrs)}",
        f"seed=range({args.seeds})",
        "hydra/launcher=stacked",
        f"hydra.launcher.max_members={-(-jobs // n)}",  # N groups
        *args.overrides,
    ]
    runs: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(args.rounds):
            for count in (1, n):
                name = f"workers={count}"
                command = [*grid, f"hydra.launcher.workers={count}", f"hydra.sweep.dir={folder}/{round_}/{count}"]
                runs.setdefault(name, []).append(measure(command, env))
                run = runs[name][-1]
                print(
                    f"{name} round {round_}: {run['wall_s']:.1f} s wall, load {os.getloadavg()[0]:.1f}", file=sys.stderr
                )
    figures = {
        name: {"median_wall_s": statistics.median(r["wall_s"] for r in rs), "runs": rs} for name, rs in runs.items()
    }
    results = {
        "machine": {"cpus": os.cpu_count(), "threads": args.threads, "load_average_at_end": os.getloadavg()},
        "jobs": jobs,
        "groups": n,
        "overrides": args.overrides,
        **figures,
        "speedup": figures["workers=1"]["median_wall_s"] / figures[f"workers={n}"]["median_wall_s"],
    }
    return emit(results, args.json)


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
    parser.add_argument("--scale", action="store_true", help="the 200-job Iris grid instead of the studies")
    parser.add_argument("--lrs", default=",".join(map(str, GRID_LRS)), help="scale mode: the learning rates")
    parser.add_argument("--seeds", type=int, default=20, help="scale mode: seeds 0 .. N-1 for each learning rate")
    parser.add_argument("--workers", type=int, default=0, help="workers mode: N groups on N processes against 1")
    parser.add_argument("--basic-sample", type=int, default=10, help="scale mode: about this many jobs run basic")
    args = parser.parse_args(argv)
    env = {"OMP_NUM_THREADS": str(args.threads)} if args.threads else {}
    if args.scale:
        return scale(args, env)
    if args.workers:
        return workers(args, env)
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
    return emit(results, args.json)


if __name__ == "__main__":
    main()
