"""`hydra.main` for litlab's entry points (train.py, eval.py), with bad input told in one or two lines.

Hydra reports a typo in a key as "Key 'lrr' not in 'SGDConf'" and "To append to your config use +";
here it becomes what to type instead:

    error: optimizer.lrr is not a key; did you mean optimizer.lr?
    keys of optimizer: lr, momentum, dampening, nesterov

An option that does not exist says which do (`error: model=mlpp is not an option; did you mean model=mlp?
options of model: linreg, mlp, softmax`, on one line). A `LitlabError` (a value out of range, a missing
file) prints as `error: ...`. All exit with status 2.
`HYDRA_FULL_ERROR=1` shows Hydra's own report with the full traceback, as it always does.
Only the reporting changes: `--help`, `-m`, `--cfg job` and every other Hydra flag work as before.
"""

import atexit
import contextlib
import difflib
import functools
import gc
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hydra
from hydra._internal import utils as hydra_internals  # hydra-core 1.3: where errors are reported
from hydra.errors import ConfigCompositionException, MissingConfigException
from omegaconf import OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, MissingMandatoryValue, ValidationError

from litlab.config.schema import register_schemas
from litlab.errors import LitlabError

TYPE_NAMES = {"Float": "a number", "Integer": "an integer", "Boolean": "true or false", "String": "a string"}


def entry_point(config_name: str) -> Callable[[Callable], Callable[[], Any]]:
    """Like `@hydra.main(config_path="conf", config_name=...)`, with the schemas registered first."""

    def decorator(task: Callable) -> Callable[[], Any]:
        hydra_main = hydra.main(config_path="conf", config_name=config_name, version_base="1.3")(task)

        @functools.wraps(task)
        def main() -> Any:
            # When the process ends, Python collects garbage over every object still alive (torch's and
            # Lightning's modules: a second or two) before it frees them. Frozen objects are left out of that
            # collection; they are still freed, and files and writers are closed by the code that opened them.
            atexit.unregister(gc.freeze)  # once, however often main() runs in one process
            atexit.register(gc.freeze)
            register_schemas()
            with bad_input_exits():
                sys.argv[1:] = resume_arguments(sys.argv[1:])
            report = hydra_internals.run_and_report
            hydra_internals.run_and_report = lambda func: report(functools.partial(_in_one_line, func))
            try:
                return hydra_main()
            finally:
                hydra_internals.run_and_report = report

        return main

    return decorator


@contextlib.contextmanager
def bad_input_exits() -> Iterator[None]:
    """A config error or a `LitlabError` prints `error: ...` and exits with status 2 instead of a traceback."""
    try:
        yield
    except (ConfigCompositionException, LitlabError, MissingMandatoryValue) as error:
        message = explain(error)
        if message is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2) from None


def _in_one_line(func: Callable) -> Any:
    with bad_input_exits(), failed_search_reported():
        return func()


@contextlib.contextmanager
def failed_search_reported() -> Iterator[None]:
    """A search whose every trial failed still gets its report, and a one-line error instead of a traceback."""
    try:
        yield
    except ValueError as error:
        message = failed_search(error)
        if message is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(1) from None


def failed_search(error: ValueError) -> str | None:
    """For a search whose every trial failed: write its report and say so in one line; None for any other error.

    Optuna's sweeper asks the study for its best trial at the end, which raises when no trial completed,
    before Hydra's end-of-multirun callbacks (the sweep report) run.
    """
    from litlab.report import SweepReport, write_report

    sweep_dir = SweepReport.sweep_dir
    if str(error) != "No trials are completed yet." or not sweep_dir:
        return None
    try:
        write_report(sweep_dir, echo=False)
        where = f"{sweep_dir}/report.md lists them"
    except Exception as report_error:  # the jobs' own files are what matters; keep them and say so
        where = f"no report ({report_error}); the jobs are in {sweep_dir}"
    return f"every trial of the search failed; each job's metrics.json says why, and {where}"


def resume_arguments(args: list[str]) -> list[str]:
    """`resume=RUN_DIR`: that run's own overrides, then the ones typed now, and Hydra's run folder set to RUN_DIR.

    So the resumed run composes the same config, logs into the same folder (train.log, TensorBoard run,
    metrics.json) and continues from its checkpoints/last.ckpt; `trainer.max_epochs=20` extends it.
    """
    resume = [arg for arg in args if arg.startswith("resume=")]
    if not resume:
        return args
    run_dir = Path(resume[-1].split("=", 1)[1])
    saved = run_dir / ".hydra" / "overrides.yaml"
    if not saved.is_file():
        raise LitlabError(
            f"resume={run_dir}: not a run folder (it has no .hydra/overrides.yaml); give the folder "
            "a run printed as `run folder: ...`"
        )
    typed = {_key(arg) for arg in args}
    replaced = typed | {"resume", "ckpt_path", "hydra.run.dir"}
    original = [arg for arg in OmegaConf.load(saved) if _key(arg) not in replaced]
    return [*original, *args, *([] if "hydra.run.dir" in typed else [f"hydra.run.dir={run_dir}"])]


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def explain(error: Exception) -> str | None:
    """What to tell the user about a config error, or None to leave it to Hydra's report."""
    if isinstance(error, LitlabError):
        return str(error)
    if isinstance(error, MissingMandatoryValue):
        return f"{error.full_key} is required: add {error.full_key}=..."
    if isinstance(error, MissingConfigException) and error.options and error.missing_cfg_file:
        group, _, name = error.missing_cfg_file.rpartition("/")
        return _unknown_option(group, name, error.options)
    cause = error.__cause__
    if isinstance(cause, (ConfigAttributeError, ConfigKeyError)) and cause.full_key and cause.parent_node is not None:
        keys = [k for k in cause.parent_node if k not in ("hydra", "_target_", "_partial_")]
        return _unknown_key(cause.full_key, keys)
    if isinstance(cause, ValidationError) and cause.full_key:
        found = re.match(r"Value '(.*)' of type '\w+' could not be converted to (\w+)", cause.msg)
        if found:
            value, type_name = found.groups()
            expected = TYPE_NAMES.get(type_name, type_name)
            return f"{cause.full_key}={value} is not allowed: {cause.full_key} takes {expected}"
        return f"{cause.full_key}: {cause.msg.splitlines()[0]}"
    return None


def _unknown_option(group: str, name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1)
    hint = f"; did you mean {group}={close[0]}?" if close else ""
    return f"{group}={name} is not an option{hint} options of {group}: {', '.join(options)}"


def _unknown_key(full_key: str, keys: list[str]) -> str:
    parent, _, name = full_key.rpartition(".")
    where = parent or "the top level"
    if not keys:
        return (
            f"{full_key} is not a key: {where} has no keys with this option "
            f"(pick another option, or add it with +{full_key}=...)"
        )
    close = difflib.get_close_matches(name, keys, n=1)
    hint = f"; did you mean {parent + '.' if parent else ''}{close[0]}?" if close else ""
    return f"{full_key} is not a key{hint}\nkeys of {where}: {', '.join(keys)}"
