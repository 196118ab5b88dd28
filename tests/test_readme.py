"""Every command in the shell code blocks of README.md and the docs/ pages, run as a new user types it.

The commands are read from README.md and then from the pages of the documentation site, in the order of
mkdocs.yml's nav (tests/doc_pages.py). So a command added to any of them is tested without anyone writing a
test. A command that stands in more than one place runs once, where it first appears. Its test id names the
file and line (`docs/sweeps.md:L12 python train.py ...`).

The commands run one after another in a folder laid out like a fresh clone (links to the repository's files,
an `outputs/` of its own), so a command can use what an earlier one wrote (`resume=`, `eval.py`, `report.py`).
A command is only ever shortened by appending arguments (`trainer.max_epochs=1`, `seed=0`, `--epochs 1`: see
SHORTER). Placeholders are filled in from what the earlier commands wrote: `outputs/runs/DATE/TIME` is the
newest run folder, `outputs/multirun/DATE/TIME` the newest sweep folder, `epoch009.ckpt` the run's best
checkpoint.

How each one runs:
- `python train.py` / `eval.py` / `predict.py` in this process, through the scripts' own `main()` (Hydra, the
  CLI's error handling, the default callbacks and logger); one `import lightning` serves them all;
- as a process: DDP (Lightning starts rank 1 by rerunning the command), other launchers, scripts, `make`,
  and the `$ python ...` transcripts, whose printed lines must match what the page shows (`[...]` stands
  for anything);
- `tensorboard --logdir DIR` with `--inspect` (it reads the event files and exits instead of serving);
- `make setup` and `make lint` as written; `make test` with `PYTEST_ARGS=--collect-only` (it is the suite
  that runs this test);
- the commands CHECKS names are checked further, for what the docs say they do (the ddp_spawn and
  submitit_local sweeps, bench.py --small-run: no other test runs them again);
- commands the docs mark `# needs a GPU`, `# needs GPUs` or `# needs Slurm` are composed and their values
  checked, not run, and say so in the test id.
"""

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, read_metrics
from doc_pages import documentation
from hydra.core.global_hydra import GlobalHydra

SHELL_FENCES = {"", "bash", "sh", "shell", "console"}
COMPOSE_ONLY = re.compile(r"#\s*needs (a GPU|GPUs|Slurm)\b")
IN_PROCESS = {"train.py", "eval.py", "predict.py"}
# Run as processes even though they are train.py: they start processes of their own from the command line.
AS_PROCESS = re.compile(r"accelerator=ddp|hydra/launcher=")

SHORT_RUN = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "trainer.check_val_every_n_epoch=1",
]
# Appended to the commands they match, after SHORT_RUN for train.py (the last value of a key wins, as in Hydra).
# A resumed run trains one epoch more than the run it continues (docs/reliability.md: run, resume, resume further,
# ckpt_path from that: 1, 1, 2, 3 epochs), so each has an epoch to train and a best checkpoint for eval.py.
SHORTER = [
    (r"train\.py resume=.*max_epochs", ["trainer.max_epochs=2"]),
    (r"train\.py .*\bckpt_path=", ["trainer.max_epochs=3"]),
    (r"train\.py .*(\bseed=\d+,|sweep=(weight_decay|optimizers|dropout)\b)", ["seed=0"]),
    (r"train\.py .*sweep=mlp_search", ["hydra.sweeper.n_trials=2"]),
    (r"scripts/bench\.py --small-run", ["--max-epochs", "8", "--repeats", "1"]),
    (r"scripts/bench\.py (?!--small-run)", ["--epochs", "1", "--data", "random", "--random-images", "1200"]),
    (r"scripts/trainer_overhead\.py", ["--steps", "20", "--epochs", "1"]),
]


@dataclass
class Command:
    page: str  # README.md or docs/PAGE.md
    line: int  # in that file
    text: str  # as written, comment included
    expected: list[str] = field(default_factory=list)  # the lines a `$ ` transcript shows after it

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.text.removeprefix("$ "), comments=True)

    @property
    def id(self) -> str:
        words = " ".join(self.argv)
        return f"{self.page}:L{self.line} {'composed ' if COMPOSE_ONLY.search(self.text) else ''}{words}"[:120]


def page_commands(page: str, text: str) -> list[Command]:
    commands: list[Command] = []
    fence, transcript = None, None
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            fence, transcript = (line[3:].strip() if fence is None else None), None
            continue
        if fence not in SHELL_FENCES or not line.strip() or line.lstrip().startswith("#"):
            continue
        if transcript and not line.startswith("$ "):
            transcript.expected.append(line)  # what the `$ ` command above it prints
            continue
        commands.append(Command(page, number, line.strip()))
        transcript = commands[-1] if line.startswith("$ ") else None
    return commands


def documented_commands() -> list[Command]:
    """The commands of README.md and the site's pages in reading order, each command once."""
    commands, seen = [], set()
    for path in documentation():
        for command in page_commands(str(path.relative_to(ROOT)), path.read_text()):
            words = " ".join(command.argv)  # its comment aside
            if words not in seen:
                seen.add(words)
                commands.append(command)
    return commands


COMMANDS = documented_commands()


def test_the_readme_has_commands_and_each_is_recognised():
    assert len(COMMANDS) > 20
    unknown = [c.text for c in COMMANDS if c.argv[0] not in ("python", "make", "tensorboard")]
    assert not unknown, f"no rule to run these documented commands; add one to tests/test_readme.py: {unknown}"


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A folder that looks like a fresh clone: links to the repository's files, its own outputs/."""
    folder = tmp_path_factory.mktemp("clone")
    (ROOT / "data").mkdir(exist_ok=True)  # FashionMNIST is unpacked once, shared with the other tests
    for entry in ROOT.iterdir():
        if entry.name not in (".git", "outputs"):
            (folder / entry.name).symlink_to(entry)
    (folder / "outputs").mkdir()
    return folder


@pytest.mark.parametrize("command", COMMANDS, ids=[c.id for c in COMMANDS])
def test_readme_command(command: Command, clone: Path, run_in_process):
    argv = [_filled(arg, clone) for arg in command.argv] + _shortening(command)
    if COMPOSE_ONLY.search(command.text):
        return _compose_and_check(argv)
    if command.text.startswith("$ "):
        result = _process(argv, clone)
        _check_transcript(command, result)
        return
    if argv[:2] == ["make", "test"]:
        result = _process([*argv, "PYTEST_ARGS=--collect-only -q"], ROOT)
        assert result.returncode == 0 and " tests collected" in result.stdout, result.stdout[-2000:]
        return
    if argv[0] == "make" and argv[1] != "train":  # setup, lint: as written, in the repository itself
        result = _process(argv, ROOT)
        assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-2000:]
        return
    if argv[0] == "make":  # make train, in the repository itself: make's own setup step must find its .venv
        run_args = [a for a in argv if a.startswith("ARGS=")]
        args = " ".join([*(a[5:] for a in run_args), *SHORT_RUN, f"hydra.run.dir={clone}/outputs/make_train"])
        result = _process([*(a for a in argv if not a.startswith("ARGS=")), f"ARGS={args}"], ROOT)
        assert result.returncode == 0, result.stderr[-3000:]
        assert '"status": "completed"' in (clone / "outputs" / "make_train" / "metrics.json").read_text()
        return
    if argv[0] == "tensorboard":
        result = _process([str(Path(sys.executable).with_name("tensorboard")), *argv[1:], "--inspect"], clone)
        assert result.returncode == 0 and "Processing event files" in result.stdout + result.stderr, result.stderr
        assert "Found event files in:" in result.stdout + result.stderr, result.stdout[-2000:]
        return
    script, before = argv[1], _run_folders(clone)
    if script in IN_PROCESS and not AS_PROCESS.search(" ".join(argv)):
        result = run_in_process(*argv[2:], script=clone / script, cwd=clone)
        assert result.returncode == 0, (
            f"exit status {result.returncode}\n{result.stderr[-3000:]}\n{result.stdout[-2000:]}"
        )
    else:
        result = _process([sys.executable, *argv[1:]], clone)
        assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-2000:]
    for pattern, check in CHECKS:
        if re.search(pattern, command.text.split("#")[0]):
            check(argv, result, _run_folders(clone) - before, clone)


def _shortening(command: Command) -> list[str]:
    argv = command.argv
    extra = []
    if argv[:2] == ["python", "train.py"] and not command.text.startswith("$ "):
        extra += SHORT_RUN
    for pattern, args in SHORTER:
        if re.search(pattern, command.text.split("#")[0]):
            extra += args
    return extra


def _filled(arg: str, clone: Path) -> str:
    """A placeholder of the docs replaced by what the earlier commands wrote."""
    for kind in ("runs", "multirun"):
        token = f"outputs/{kind}/DATE/TIME"
        if token in arg:
            folders = sorted((clone / "outputs" / kind).glob("*/*"))  # DATE/TIME, DATE/TIME_1: in creation order
            if not folders:
                pytest.skip(f"needs the {kind} folder an earlier documented command writes (run the whole file)")
            arg = arg.replace(token, str(folders[-1].relative_to(clone)))
    key, _, value = arg.rpartition("=")
    if re.fullmatch(r".*/epoch\d+\.ckpt", value) and not (clone / value).exists():
        best = sorted((clone / value).parent.glob("epoch*.ckpt"))
        assert best, f"no epochNNN.ckpt beside {value}"
        arg = f"{key}={best[-1].relative_to(clone)}"
    return arg


def _process(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if argv[0] == "python":
        argv = [sys.executable, *argv[1:]]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=900, env=env)


def _check_transcript(command: Command, result: subprocess.CompletedProcess) -> None:
    """A `$ command` block: the lines the page shows after it are what the command prints."""
    if "accelerator=gpu" in command.text:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this transcript shows a machine without a GPU")
    printed = (result.stderr + result.stdout).splitlines()
    for line in command.expected:
        pattern = ".*".join(map(re.escape, line.split("[...]")))
        assert any(re.fullmatch(pattern, p) for p in printed), f"{command.page} shows {line!r}; printed:\n" + "\n".join(
            printed[-20:]
        )
    shows_error = any(re.search(r"\berror\b", line, re.I) for line in command.expected)
    assert (result.returncode != 0) == shows_error, f"exit status {result.returncode}"


def _compose_and_check(argv: list[str]) -> None:
    """A command for GPUs or Slurm, on a machine without them: its config composes and its values are allowed."""
    from conftest import CONF
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.utils import get_class, instantiate

    from litlab.config.checks import check_config

    assert argv[:2] == ["python", "train.py"], argv
    overrides = [a for a in argv[2:] if a != "-m"]
    parser = OverridesParser.create()
    # A sweep's first job stands for all: `optimizer=sgd,adam` composes as `optimizer=sgd`.
    first = [
        o.get_key_element()
        + "="
        + (next(o.sweep_string_iterator()) if o.is_sweep_override() else o.get_value_element_as_str())
        for o in parser.parse_overrides(overrides)
    ]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=first, return_hydra_config=True)
    GlobalHydra.instance().clear()
    check_config(cfg)
    if hasattr(get_class(cfg.hydra.launcher._target_), "check"):  # hydra/launcher=stacked: its own keys' values
        instantiate(cfg.hydra.launcher).check()


# -- what some commands leave, beyond exit status 0 -------------------------------------------------------
def _run_folders(clone: Path) -> set[Path]:
    return {*(clone / "outputs").glob("runs/*/*"), *(clone / "outputs").glob("multirun/*/*")}


def _sweep_jobs(argv: list[str], new: set[Path], key: str) -> tuple[Path, list[str]]:
    """The one sweep folder the command made (and no run folder), with a completed job per value of `key`."""
    assert len(new) == 1 and next(iter(new)).parent.parent.name == "multirun", f"new run and sweep folders: {new}"
    sweep = next(iter(new))
    values = next(a for a in argv if a.startswith(f"{key}=")).split("=", 1)[1].split(",")
    assert sorted(p.name for p in sweep.iterdir() if p.name.isdigit()) == [str(i) for i in range(len(values))]
    for job, value in enumerate(values):
        metrics = read_metrics(sweep / str(job))
        assert metrics["status"] == "completed" and metrics["epochs"] == 1, metrics  # SHORT_RUN: 1 epoch
        assert f"{key}={value}" in yaml.safe_load((sweep / str(job) / ".hydra" / "overrides.yaml").read_text())
    return sweep, values


def _ddp_spawn_sweep(argv: list[str], result, new: set[Path], clone: Path) -> None:
    """DDP inside a multirun: one job folder per job, the sweep started once (`ddp` would start it again)."""
    _, values = _sweep_jobs(argv, new, "optimizer.lr")
    assert result.stdout.count(f"Launching {len(values)} jobs locally") == 1, result.stdout[-2000:]


def _submitit_local_sweep(argv: list[str], result, new: set[Path], clone: Path) -> None:
    """Each job in a process of its own: job folders, train.log and the sweep report as in a basic multirun."""
    sweep, values = _sweep_jobs(argv, new, "optimizer.lr")
    assert (sweep / ".submitit").is_dir()
    report = (sweep / "report.md").read_text()
    assert f"{len(values)} runs" in report and report.count("| completed |") == len(values)
    for job, value in enumerate(values):
        assert read_metrics(sweep / str(job))["lr-SGD/pg1"] == pytest.approx(float(value))
        assert (sweep / str(job) / "train.log").exists()


def _small_run_bench(argv: list[str], result, new: set[Path], clone: Path) -> None:
    """What bench.py --small-run measures, as its JSON and its printout hold it (SHORTER: 8 epochs, one round)."""
    record = json.loads((clone / argv[argv.index("--json") + 1]).read_text())
    # 8 epochs, the first 5 left out: 3 timed epochs of litlab and of the bare Trainer, and 3 of the loop
    # (1 before them, 2 after them)
    each = record["each_epoch_ms"]
    assert len(each["litlab"]) == len(each["bare"]) == len(each["loop"]) == 3
    assert all(v > 0 for values in each.values() for v in values)
    ms = record["epoch_ms"]
    assert record["framework_ms_per_epoch"] == ms["litlab"] - ms["bare"]
    assert record["lightning_ms_per_epoch"] == ms["bare"] - ms["loop"]
    assert list(record["breakdown_ms"])[0] == "the defaults" and len(record["breakdown_ms"]) == 4  # --breakdown
    for name in ("polynomial_overfit", "iris_optimizers"):
        run = record["processes"][name]
        assert run["ratio"] == run["litlab_s"] / run["handwritten_s"] and run["litlab_s"] > 0
        assert run["ratio_bare"] == run["litlab_s"] / run["bare_s"] and run["bare_s"] > 0
    assert 0 < record["first_step_s"] < record["processes"]["iris_optimizers"]["litlab_s"]
    printed = result.stdout
    assert "framework ms per epoch" in printed and "experiment=polynomial_overfit" in printed, printed[-2000:]
    assert "bare Trainer" in printed


def _full_run_bench(argv: list[str], result, new: set[Path], clone: Path) -> None:
    """bench.py --full-run: the whole default run against the hand-written script of the same run, both processes."""
    record = json.loads((clone / argv[argv.index("--json") + 1]).read_text())
    full = record["full_run"]
    assert full["litlab_s"] == record["default_run_s"] > 0 and full["handwritten_s"] > 0
    assert full["ratio"] == full["litlab_s"] / full["handwritten_s"]
    assert "scripts/handwritten_fashion_mnist.py" in result.stdout, result.stdout[-2000:]


CHECKS = [
    (r"accelerator=ddp_spawn", _ddp_spawn_sweep),
    (r"hydra/launcher=submitit_local", _submitit_local_sweep),
    (r"scripts/bench\.py --small-run", _small_run_bench),
    (r"scripts/bench\.py .*--full-run", _full_run_bench),
]
