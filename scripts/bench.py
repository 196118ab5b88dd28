"""Training throughput of litlab's real path against a hand-written loop and the usual per-sample pipeline.

    python scripts/bench.py                          # 784-256-10 MLP, batch 256, SGD: a table of samples/s
    python scripts/bench.py --epochs 5 --json bench.json --startup --full-run

Three paths train the same network (`--model`, a `conf/model/` option) with the same optimizer
(conf/optimizer/sgd.yaml), batch size and number of epochs on the same 55,000 training images:

  (a) litlab: the run `python train.py` builds (conf/train.yaml composed with Hydra's compose API,
      then `litlab.run.build`): the same data module, system, callbacks, logger and Trainer;
  (b) loop:   a plain PyTorch loop; each epoch shuffles the in-memory tensors once (`x[perm]`) and
      slices batches from them. Its steps alone (the shuffle left out of its clock) are shown too:
      that copy of the whole split each epoch costs the loop more than litlab's per-batch gathers;
  (c) per-sample: torchvision's FashionMNIST dataset with per-sample ToTensor + Normalize, a
      shuffling DataLoader, and a LightningModule that logs loss and accuracy on every step
      (progress bar off, so its output stays readable; with one it would be slower still).

Each path runs one warm-up epoch and then `--epochs` timed ones; its figure is the median of the timed
epochs' samples/s (training steps only: validation is not timed). The loop runs before and after (a),
so a change in the machine's load during the benchmark weighs on both. FashionMNIST is used when its
files are there (see docs/data.md), else random images of the same shape, as the output says.
`--startup` adds the wall time from `python train.py` starting to its first training step and
`--full-run` the time of a whole default run (`python train.py`) against `scripts/handwritten_fashion_mnist.py`,
the same run by hand, each a whole process (wall time, or with `--clock cpu` the child's CPU time); both start
new processes.

`--small-run` measures small runs instead, where the framework rather than the arithmetic is the cost:

    python scripts/bench.py --small-run --json bench_small.json

  - milliseconds per epoch of `experiment=iris_optimizers` (5 steps of a 4-16-3 MLP and a validation
    pass) with the default callbacks and logger, against a bare Lightning Trainer on the same system and
    data (no logger, callbacks, checkpoints, progress bar or summary: `scripts/bare_trainer.py`) and
    the hand-written loop of `scripts/handwritten_iris_optimizers.py`, all in the same process, on the
    same splits; litlab minus the bare Trainer is what litlab's framework costs per epoch (each path's
    median epoch, warm-up epochs left out);
  - the wall time of whole processes: `python train.py experiment=polynomial_overfit` and
    `python train.py experiment=iris_optimizers` against `scripts/bare_trainer.py` with the same
    experiment and `scripts/handwritten_polynomial_overfit.py` and `scripts/handwritten_iris_optimizers.py`,
    which do the same runs by hand, and how long train.py takes to its first training step.
  Every path runs once per round (`--repeats` rounds, interleaved, so a change in the machine's load
  weighs on all of them); the figures are medians.
"""

import argparse
import copy
import json
import os
import platform
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="mlp", help="a conf/model/ option for a classifier: mlp, softmax")
    parser.add_argument("--hidden", default=None, help="the MLP's hidden widths, e.g. 256 or 256,128 (default: conf)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per path, after one warm-up epoch")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument(
        "--data",
        default="auto",
        choices=["auto", "fashion_mnist", "random"],
        help="auto: FashionMNIST when its files are there, else random images of its shape",
    )
    parser.add_argument(
        "--random-images",
        type=int,
        default=60000,
        help="how many random training images to make when FashionMNIST is not used (its 60,000)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    parser.add_argument("--startup", action="store_true", help="time `python train.py` from start to first step")
    parser.add_argument("--full-run", action="store_true", help="time a whole default `python train.py` run")
    parser.add_argument(
        "--small-run",
        action="store_true",
        help="small runs instead: ms per epoch of experiment=iris_optimizers and whole processes "
        "of two small experiments, against hand-written scripts of the same runs",
    )
    parser.add_argument("--repeats", type=int, default=3, help="--small-run: rounds, each running every path once")
    parser.add_argument(
        "--clock",
        default="wall",
        choices=["wall", "cpu"],
        help="--small-run and --full-run: wall time, or CPU time (this process's, or the child's: steadier on "
        "a busy machine, where waiting for a core would be counted as work)",
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="--small-run: also ms per epoch with fewer callbacks, no logger, rare validation",
    )
    parser.add_argument(
        "--max-epochs",
        type=int,
        default=None,
        help="--small-run: shorten every run to this many epochs (default: the experiments' own)",
    )
    args = parser.parse_args(argv)
    if args.repeats < 1 or (args.max_epochs or 1) < 1:
        parser.error("--repeats and --max-epochs must be at least 1")
    if args.epochs < 1 or args.batch_size < 1 or args.random_images < 12 or (args.threads or 1) < 1:
        parser.error("--epochs, --batch-size and --threads must be at least 1, --random-images at least 12")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.small_run:
        return small_run(args)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda, but torch sees no CUDA GPU here; use --device cpu or auto")
    device = torch.device(
        "cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu"
    )
    with tempfile.TemporaryDirectory(prefix="litlab-bench-") as tmp:
        tmp = Path(tmp)
        data_dir, data_note, random = _data_dir(args.data, args.random_images, tmp)
        args.val_size = args.random_images // 12 if random else None  # FashionMNIST's 5,000 of 60,000
        cfg = _compose(
            [
                *_overrides(args, device, data_dir),
                f"paths.output_dir={tmp / 'run'}",
                f"trainer.max_epochs={1 + args.epochs}",
            ]
        )
        loop_rates, litlab_rates, per_sample_rates, train_size = _measure(args, cfg, device, data_dir, tmp)
        startup = _time_startup(args, device, data_dir, tmp) if args.startup else None
        full_run = _time_full_run(args, device, data_dir, tmp) if args.full_run else None

    epochs = {
        "litlab": litlab_rates,
        "loop": [r[0] for r in loop_rates],
        "per_sample": per_sample_rates,
        "loop_steps_only": [r[1] for r in loop_rates],
    }
    rates = {path: statistics.median(values) for path, values in epochs.items()}
    result = {
        "samples_per_s": rates,
        "ratio_vs_loop": rates["litlab"] / rates["loop"],
        "ratio_vs_per_sample": rates["litlab"] / rates["per_sample"],
        "ratio_vs_loop_steps_only": rates["litlab"] / rates["loop_steps_only"],
        "epoch_samples_per_s": epochs,
        "startup_s": startup,
        "default_run_s": full_run and full_run["litlab_s"],
        "full_run": full_run,
        "data": data_note,
        "train_samples": train_size,
        "model": args.model,
        "hidden": args.hidden,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "machine": _machine(),
    }
    _print_table(result)
    _write_json(args.json, result)
    return result


# -- data ------------------------------------------------------------------------------------------
def _data_dir(choice: str, random_images: int, tmp: Path) -> tuple[str, str, bool]:
    from litlab.data.fashion_mnist import SYSTEM_DIR, files_present

    data_dir = os.environ.get("LITLAB_DATA_DIR", str(ROOT / "data"))
    present = files_present(data_dir)
    if choice == "fashion_mnist" and not present:
        raise SystemExit(
            f"error: --data fashion_mnist, but its files are neither in {data_dir}/FashionMNIST/raw/ "
            f"nor in {SYSTEM_DIR}/ (see docs/data.md)"
        )
    if present and choice != "random":
        return data_dir, "FashionMNIST", False
    _write_random_fashion_mnist(tmp / "data" / "FashionMNIST" / "raw", random_images)
    why = "--data random" if choice == "random" else "FashionMNIST files not found"
    return str(tmp / "data"), f"random images of FashionMNIST's shape ({why})", True


def _write_random_fashion_mnist(raw: Path, n_train: int) -> None:
    """IDX files of random images and labels, read by the real data module and by torchvision alike."""
    import torch

    raw.mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    for prefix, n in (("train", n_train), ("t10k", max(1, n_train // 6))):
        images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=g)
        labels = torch.randint(0, 10, (n,), dtype=torch.uint8, generator=g)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(
            struct.pack(">4i", 2051, n, 28, 28) + images.numpy().tobytes()
        )
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">2i", 2049, n) + labels.numpy().tobytes())


# -- the three paths ---------------------------------------------------------------------------------
def _overrides(args: argparse.Namespace, device, data_dir: str) -> list[str]:
    overrides = [
        f"model={args.model}",
        f"data.batch_size={args.batch_size}",
        f"paths.data_dir={data_dir}",
        f"accelerator={'gpu' if device.type == 'cuda' else 'cpu'}",
    ]
    if args.val_size:
        overrides.append(f"data.val_size={args.val_size}")
    return overrides + ([f"model.hidden=[{args.hidden}]"] if args.hidden else [])


def _compose(overrides: list[str]):
    """conf/train.yaml with these overrides, as `python train.py` would compose it."""
    return _load_script("bare_trainer").compose(overrides)


def _measure(args, cfg, device, data_dir: str, tmp: Path):
    from hydra.utils import instantiate

    from litlab.callbacks.timing import TrainTimer
    from litlab.run import build

    print(f"(a) litlab: building the run train.py builds ({cfg.model._target_}, batch {args.batch_size}) ...")
    datamodule, system, trainer = build(cfg)
    x, y = datamodule.splits["train"]
    initial = copy.deepcopy(system.network)  # (b) and (c) start from the weights (a) starts from

    network = copy.deepcopy(initial).to(device)
    optimizer = instantiate(cfg.optimizer)(network.parameters())
    print("(b) loop, before (a) ...")
    loop_rates = _loop_epochs(network, optimizer, x, y, args.batch_size, 1 + args.epochs, device)[1:]

    timer = TrainTimer()
    trainer.callbacks.append(timer)
    print("(a) litlab: Trainer.fit ...")
    trainer.fit(system, datamodule=datamodule)
    litlab_rates = timer.samples_per_s[1:]

    print("(b) loop, after (a) ...")
    loop_rates += _loop_epochs(network, optimizer, x, y, args.batch_size, args.epochs, device)

    print("(c) per-sample pipeline ...")
    per_sample = _per_sample_rates(
        copy.deepcopy(initial), instantiate(cfg.optimizer), data_dir, len(x), args, device, tmp
    )
    return loop_rates, litlab_rates, per_sample, len(x)


def _loop_epochs(network, optimizer, x, y, batch_size: int, epochs: int, device) -> list[tuple[float, float]]:
    """(b): what one writes by hand: shuffle the tensors once per epoch, slice batches, step.

    Per epoch: (samples/s, samples/s of the steps alone, the shuffle's time left out)."""
    import torch
    import torch.nn.functional as F

    from litlab.callbacks.timing import wait_for_device

    x, y, n, rates = x.to(device), y.to(device), len(x), []
    for _ in range(epochs):
        wait_for_device(device)
        start = time.perf_counter()
        perm = torch.randperm(n, device=device)
        xs, ys = x[perm], y[perm]
        wait_for_device(device)
        shuffled = time.perf_counter()
        for i in range(0, n, batch_size):
            loss = F.cross_entropy(network(xs[i : i + batch_size]), ys[i : i + batch_size])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        wait_for_device(device)
        end = time.perf_counter()
        rates.append((n / (end - start), n / (end - shuffled)))
    return rates


def _per_sample_rates(network, optimizer_factory, data_dir: str, n: int, args, device, tmp: Path) -> list[float]:
    """(c): the usual tutorial pipeline, per-sample transforms and logging on every step."""
    import lightning as L
    import torch.nn.functional as F
    from lightning.pytorch.loggers import TensorBoardLogger
    from torch.utils.data import DataLoader, Subset
    from torchmetrics.classification import MulticlassAccuracy
    from torchvision import transforms
    from torchvision.datasets import FashionMNIST

    from litlab.callbacks.timing import TrainTimer

    class PerSampleClassifier(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.network, self.acc = network, MulticlassAccuracy(10, average="micro")

        def training_step(self, batch, batch_idx):
            x, y = batch
            output = self.network(x)
            loss = F.cross_entropy(output, y)
            self.acc(output, y)
            self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True)
            self.log("train/acc", self.acc, on_step=True, on_epoch=True, prog_bar=True)
            return loss

        def configure_optimizers(self):
            return optimizer_factory(self.parameters())

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.2860,), (0.3530,))])
    dataset = Subset(FashionMNIST(data_dir, train=True, transform=transform), range(n))
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True)
    timer = TrainTimer()
    trainer = L.Trainer(
        max_epochs=1 + args.epochs,
        accelerator="gpu" if device.type == "cuda" else "cpu",
        devices=1,
        logger=TensorBoardLogger(tmp / "per_sample"),
        callbacks=[timer],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(PerSampleClassifier(), train_dataloaders=loader)
    return timer.samples_per_s[1:]


# -- whole processes ----------------------------------------------------------------------------------
def _train_py(args, device, data_dir: str, out: Path, *extra: str) -> tuple[float, subprocess.CompletedProcess]:
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        *_overrides(args, device, data_dir),
        f"hydra.run.dir={out}",
        *extra,
    ]
    env = {**os.environ, **({"OMP_NUM_THREADS": str(args.threads)} if args.threads else {})}
    start = time.time()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return start, done


def _time_startup(args, device, data_dir: str, tmp: Path) -> float:
    print("python train.py: time to the first training step ...")
    marker = tmp / "first_step.json"
    start, _ = _train_py(
        args,
        device,
        data_dir,
        tmp / "startup",
        "trainer.max_steps=1",
        "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1",
        "+callbacks.timer._target_=litlab.callbacks.timing.TrainTimer",
        f"+callbacks.timer.first_step_file={marker}",
    )
    return json.loads(marker.read_text())["first_step_unix_time"] - start


def _time_full_run(args, device, data_dir: str, tmp: Path) -> dict:
    """A whole `python train.py` against the hand-written script of the same run, each a whole process."""
    print("python train.py: a whole default run, and scripts/handwritten_fashion_mnist.py ...")
    cpu = _children_cpu_s()
    start, _ = _train_py(args, device, data_dir, tmp / "full")
    litlab = _children_cpu_s() - cpu if args.clock == "cpu" else time.time() - start
    result = {"litlab_s": litlab, "clock": args.clock}
    if args.model == "mlp" and not args.hidden and device.type == "cpu":  # the script's run: the default one
        hand = [f"--data-dir={data_dir}", f"--val-size={args.val_size or 5000}", f"--batch-size={args.batch_size}"]
        result["handwritten_s"] = _process_seconds(
            args, "handwritten_fashion_mnist.py", *hand, f"--out={tmp / 'hand_full'}"
        )
        result["ratio"] = litlab / result["handwritten_s"]
    return result


# -- report ----------------------------------------------------------------------------------------------
def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        names = [
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()}"


def _print_table(r: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    rates = r["samples_per_s"]
    table = Table(
        title=f"training throughput, {r['model']}{' ' + r['hidden'] if r['hidden'] else ''}, "
        f"batch {r['batch_size']}, median of {r['epochs']} epochs after a warm-up epoch",
        title_justify="left",
    )
    for column, justify in (("path", "left"), ("samples/s", "right"), ("a / path", "right")):
        table.add_column(column, justify=justify)
    table.add_row("(a) litlab (train.py's Trainer, data module, system)", f"{rates['litlab']:,.0f}", "1.00")
    table.add_row("(b) plain PyTorch loop over shuffled tensors", f"{rates['loop']:,.0f}", f"{r['ratio_vs_loop']:.2f}")
    table.add_row(
        "    the same loop's steps alone (its shuffle not timed)",
        f"{rates['loop_steps_only']:,.0f}",
        f"{r['ratio_vs_loop_steps_only']:.2f}",
    )
    table.add_row(
        "(c) per-sample ToTensor + Normalize, DataLoader, log every step",
        f"{rates['per_sample']:,.0f}",
        f"{r['ratio_vs_per_sample']:.2f}",
    )
    console = Console()
    console.print(table)
    console.print(
        f"data: {r['data']}, {r['train_samples']:,} training samples; device {r['device']}, "
        f"{r['torch_threads']} torch threads; {r['machine']}"
    )
    if r["startup_s"] is not None:
        console.print(f"python train.py, start to first training step: {r['startup_s']:.1f} s")
    full = r["full_run"]
    if full is not None:
        against = (
            f" against {full['handwritten_s']:.1f} s for scripts/handwritten_fashion_mnist.py ({full['ratio']:.2f}x)"
            if "handwritten_s" in full
            else ""
        )
        console.print(f"python train.py, whole default run: {full['litlab_s']:.1f} s{against} ({full['clock']} time)")


def _write_json(path: Path | None, result: dict) -> None:
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")


# -- small runs (--small-run) ----------------------------------------------------------------------------
# The whole-process runs: train.py's experiment, and the hand-written script of the same run.
SMALL_RUNS = {
    "polynomial_overfit": "handwritten_polynomial_overfit.py",
    "iris_optimizers": "handwritten_iris_optimizers.py",
}
WARM_UP_EPOCHS = 5  # left out of the per-epoch medians
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter  # set by --clock


def small_run(args: argparse.Namespace) -> dict:
    import torch

    global clock
    clock = CLOCKS[args.clock]
    if args.threads:
        torch.set_num_threads(args.threads)
    epoch_ms = {"litlab": [], "bare": [], "loop": []}
    seconds = {name: {"litlab": [], "bare": [], "handwritten": []} for name in SMALL_RUNS}
    first_step_s, breakdown = [], {}
    with tempfile.TemporaryDirectory(prefix="litlab-bench-small-") as tmp:
        tmp = Path(tmp)
        for round_ in range(args.repeats):
            print(f"round {round_ + 1} of {args.repeats}: experiment=iris_optimizers in this process ...")
            for path, values in _small_epochs(args, tmp / f"epochs{round_}").items():
                epoch_ms[path] += values
            for name, values in (_breakdown(args, tmp / f"breakdown{round_}") if args.breakdown else {}).items():
                breakdown.setdefault(name, []).extend(values)
            for name, script in SMALL_RUNS.items():
                print(
                    f"round {round_ + 1} of {args.repeats}: python train.py experiment={name}, "
                    f"scripts/bare_trainer.py and scripts/{script} ..."
                )
                seconds[name]["handwritten"].append(_small_process(args, script, f"--out={tmp / f'hand_{name}'}"))
                seconds[name]["bare"].append(_small_process(args, "bare_trainer.py", f"experiment={name}"))
                marker = tmp / "first_step.json"
                timer = (
                    [
                        "+callbacks.timer._target_=litlab.callbacks.timing.TrainTimer",
                        f"+callbacks.timer.first_step_file={marker}",
                    ]
                    if name == "iris_optimizers"
                    else []
                )
                start = time.time()
                seconds[name]["litlab"].append(
                    _small_process(args, "train.py", f"experiment={name}", f"hydra.run.dir={tmp / name}", *timer)
                )
                if name == "iris_optimizers":
                    first_step_s.append(json.loads(marker.read_text())["first_step_unix_time"] - start)

    medians = {path: statistics.median(values) for path, values in epoch_ms.items()}
    processes = {
        name: {
            **{f"{path}_s": statistics.median(v) for path, v in runs.items()},
            "ratio": statistics.median(runs["litlab"]) / statistics.median(runs["handwritten"]),
            "ratio_bare": statistics.median(runs["litlab"]) / statistics.median(runs["bare"]),
            "each_s": runs,
        }
        for name, runs in seconds.items()
    }
    result = {
        "epoch_ms": medians,
        "framework_ms_per_epoch": medians["litlab"] - medians["bare"],
        "lightning_ms_per_epoch": medians["bare"] - medians["loop"],
        "each_epoch_ms": epoch_ms,
        "processes": processes,
        "breakdown_ms": {name: statistics.median(values) for name, values in breakdown.items()},
        "first_step_s": statistics.median(first_step_s),
        "repeats": args.repeats,
        "max_epochs": args.max_epochs,
        "clock": args.clock,
        "torch_threads": torch.get_num_threads(),
        "load_average": os.getloadavg(),
        "machine": _machine(),
    }
    _print_small_table(result)
    _write_json(args.json, result)
    return result


def _small_epochs(args: argparse.Namespace, out: Path) -> dict[str, list[float]]:
    """Per-epoch milliseconds of experiment=iris_optimizers: train.py's run, a bare Trainer on the same system
    and data, and the hand-written loop (before and after them), on the same splits, from the same weights."""
    import torch

    bare_script = _load_script("bare_trainer")
    hand = _load_script("handwritten_iris_optimizers")
    datamodule, system, trainer, cfg = _small_build(args, out)
    initial = copy.deepcopy(system.network)
    bare_system = copy.deepcopy(system)

    def loop(timed: int) -> list[float]:
        """`timed` epochs of the hand-written loop, after its own warm-up epochs."""
        network = copy.deepcopy(initial)
        optimizer = torch.optim.SGD(network.parameters(), lr=cfg.optimizer.lr)
        generator, starts = torch.Generator().manual_seed(cfg.seed), []
        for _ in range(WARM_UP_EPOCHS + timed):
            starts.append(clock())
            hand.train_epoch(network, optimizer, *datamodule.splits["train"], cfg.data.batch_size, generator)
            hand.evaluate(network, *datamodule.splits["val"])
        starts.append(clock())
        return [1e3 * (b - a) for a, b in zip(starts, starts[1:])][WARM_UP_EPOCHS:]

    timed = max(1, trainer.max_epochs - WARM_UP_EPOCHS)
    before = loop(timed // 2)
    bare = _fit_epoch_ms(datamodule, bare_system, bare_script.bare_trainer(cfg))
    litlab = _fit_epoch_ms(datamodule, system, trainer)
    return {"litlab": litlab, "bare": bare, "loop": before + loop(timed - timed // 2)}


def _small_build(args: argparse.Namespace, out: Path, *overrides: str):
    from litlab.run import build

    cfg = _compose(
        [
            "experiment=iris_optimizers",
            f"paths.output_dir={out}",
            *([f"trainer.max_epochs={args.max_epochs}"] if args.max_epochs else []),
            *overrides,
        ]
    )
    return (*build(cfg), cfg)


def _fit_epoch_ms(datamodule, system, trainer) -> list[float]:
    """Each epoch's milliseconds, from its start to the next one's: validation, checkpoints, logging included."""
    import lightning as L

    class EpochClock(L.Callback):
        def __init__(self):
            self.starts = []

        def on_train_epoch_start(self, trainer, pl_module):
            self.starts.append(clock())

        def on_train_end(self, trainer, pl_module):
            self.starts.append(clock())

    epochs = EpochClock()
    trainer.callbacks.append(epochs)
    trainer.fit(system, datamodule=datamodule)
    return [1e3 * (b - a) for a, b in zip(epochs.starts, epochs.starts[1:])][WARM_UP_EPOCHS:]


# --breakdown: the same run with less and less around it.
WITHOUT_CHECKPOINTS = [
    "callbacks.model_checkpoint=null",
    "callbacks.resumable=null",
    "trainer.enable_checkpointing=false",
]
WITHOUT_CALLBACKS = [
    *WITHOUT_CHECKPOINTS,
    "callbacks.progress_bar=null",
    "trainer.enable_progress_bar=false",
    "callbacks.lr_monitor=null",
    "callbacks.divergence=null",
    "callbacks.prediction_grid=null",
    "logger=none",
]
BREAKDOWN = {
    "the defaults": [],
    "without model_checkpoint and resumable": WITHOUT_CHECKPOINTS,
    "also without progress bar, lr monitor, divergence check, prediction grid, logger": WITHOUT_CALLBACKS,
    "also validating every 1000 epochs": [*WITHOUT_CALLBACKS, "trainer.check_val_every_n_epoch=1000"],
}


def _breakdown(args: argparse.Namespace, out: Path) -> dict[str, list[float]]:
    return {
        name: _fit_epoch_ms(*_small_build(args, out / str(i), *overrides)[:3])
        for i, (name, overrides) in enumerate(BREAKDOWN.items())
    }


def _small_process(args: argparse.Namespace, script: str, *arguments: str) -> float:
    """Seconds of `python SCRIPT ARGUMENTS` run from the repository root, shortened by --max-epochs."""
    if args.max_epochs:
        hydra_style = script in ("train.py", "bare_trainer.py")
        arguments = (
            *arguments,
            f"trainer.max_epochs={args.max_epochs}" if hydra_style else f"--epochs={args.max_epochs}",
        )
    return _process_seconds(args, script, *arguments)


def _process_seconds(args: argparse.Namespace, script: str, *arguments: str) -> float:
    """Wall seconds (or the child's CPU seconds, `--clock cpu`) of `python SCRIPT ARGUMENTS` (train.py or scripts/)."""
    command = [sys.executable, str(ROOT / script if script == "train.py" else ROOT / "scripts" / script), *arguments]
    env = {**os.environ, **({"OMP_NUM_THREADS": str(args.threads)} if args.threads else {})}
    start, cpu = time.perf_counter(), _children_cpu_s()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return _children_cpu_s() - cpu if args.clock == "cpu" else time.perf_counter() - start


def _children_cpu_s() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _load_script(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _print_small_table(r: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"small runs, {r['clock']} time, median of {r['repeats']} rounds (each path once per round, interleaved)",
        title_justify="left",
    )
    for column in ("run", "litlab", "bare Trainer", "hand-written", "litlab / bare", "litlab / hand"):
        table.add_column(column, justify="left" if column == "run" else "right")
    ms = r["epoch_ms"]
    table.add_row(
        "experiment=iris_optimizers, ms per epoch (5 steps, validation)",
        f"{ms['litlab']:.1f}",
        f"{ms['bare']:.1f}",
        f"{ms['loop']:.1f}",
        f"{ms['litlab'] / ms['bare']:.2f}x",
        f"{ms['litlab'] / ms['loop']:.1f}x",
    )
    table.add_row("  framework ms per epoch (litlab - bare Trainer)", f"{r['framework_ms_per_epoch']:.1f}")
    table.add_row("  Lightning ms per epoch (bare Trainer - hand-written)", f"{r['lightning_ms_per_epoch']:.1f}")
    for name, value in r["breakdown_ms"].items():
        table.add_row(f"  {name}, ms per epoch", f"{value:.1f}", "", "", f"{value / ms['bare']:.2f}x")
    for name, p in r["processes"].items():
        table.add_row(
            f"python train.py experiment={name}, whole process, s",
            f"{p['litlab_s']:.1f}",
            f"{p['bare_s']:.1f}",
            f"{p['handwritten_s']:.1f}",
            f"{p['ratio_bare']:.2f}x",
            f"{p['ratio']:.1f}x",
        )
    table.add_row("  experiment=iris_optimizers: start to first training step, s (wall)", f"{r['first_step_s']:.1f}")
    console = Console(width=max(Console().width, 140))  # six columns: any narrower, the labels wrap word by word
    console.print(table)
    load = ", ".join(f"{v:.1f}" for v in r["load_average"])
    console.print(
        f"{r['torch_threads']} torch threads; {r['machine']}; load average at the end {load}"
        f"{' (shortened: ' + str(r['max_epochs']) + ' epochs a run)' if r['max_epochs'] else ''}"
    )


if __name__ == "__main__":
    main()
