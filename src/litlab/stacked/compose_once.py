"""Each shape of a stacked sweep composed by Hydra once; each job's config derived from it.

A sweep's jobs differ in two kinds of override. Those that choose config-group options (`optimizer=adam`,
`experiment=...`), add (`+key=`) or delete (`~key`) keys, or touch the Hydra node (`hydra.*`) change what
Hydra composes: the *shape*. Plain value overrides (`optimizer.lr=0.1`, `seed=3`) are applied by Hydra after
composing, one after another, each with `OmegaConf.update(cfg, key, value, merge=True)`. So a job's config is
the composition of its shape alone (Hydra's `load_sweep_config` with the shape's overrides, the same call the
basic launcher makes) with the job's value overrides applied to a copy in the same way, and the few fields
of the Hydra node that name the job set as `load_sweep_config` and the launcher set them:
`hydra.overrides.task`, `hydra.job.override_dirname` (Hydra's `get_overrides_dirname`), `hydra.job.num`,
`hydra.job.id` and, when its folder is made, `hydra.runtime.output_dir`. Composing costs about 0.1 s; a
copy (unpickled from the shape's pickle) and a few updates about 1 ms.

The derivation relies on Hydra's public `ConfigLoader.load_sweep_config` and `get_group_options`, its override
parser (`OverridesParser`, `Override.is_hydra_override`) and OmegaConf's `update`, `copy_cache`, `to_yaml` and
`masked_copy`. Two are internal: Hydra's `get_overrides_dirname` (hydra._internal.config_loader_impl) and
OmegaConf's YAML dumper (`omegaconf._utils.get_omega_conf_dumper`, what `OmegaConf.to_yaml` dumps with). Anything it
cannot treat this way is composed by Hydra in full, as before: a shape whose composition fails, a value that
fails to apply. The first job derived from each shape is also composed in full and compared, config and file
texts; on any difference the whole shape falls back to full composition.

The sweeper shares the loader (the launcher puts a `ReusingConfigLoader` in the `HydraContext` in `setup()`):
its batch check (`Sweeper.validate_batch_is_legal`) derives each job once, and the launcher `take`s that job
instead of deriving it again. The check drops what it gets: a derived job's `load_sweep_config` returns the
job's config without the Hydra node.
"""

import copy
import functools
import os
import pickle
from dataclasses import dataclass, field
from typing import Any

import yaml
from hydra.core.config_loader import ConfigLoader
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from litlab.stacked.phases import Clock

# The fields of the Hydra node that differ from job to job; every other field is the shape's.
PER_JOB = {"job": ("id", "num", "override_dirname"), "runtime": ("output_dir",), "overrides": ("task",)}


@dataclass
class Shape:
    """One composition by Hydra, shared by the jobs that choose the same options."""

    full: DictConfig  # Hydra's composition of the shape's overrides, the Hydra node included
    task: DictConfig  # the same without the Hydra node: what a job's config is derived from
    task_pickle: bytes  # `task` pickled: a job's copy is unpickled from it (under 1 ms; a deep copy takes 5)
    hydra: dict  # the Hydra node as plain containers (`to_container`, enums as names)
    config_text: dict[str, str]  # the YAML of each top-level key of `task`, in order
    hydra_text: list[str | tuple[str, str]]  # hydra.yaml's text in pieces; (child, field): a per-job field
    checked: bool = False  # a derived job was compared with Hydra's full composition
    # The YAML of a top-level key with value overrides applied, by (key, those overrides): the jobs of a grid
    # share them (`optimizer` with `optimizer.lr=0.1`), so each is written once.
    key_texts: dict[tuple[str, tuple[str, ...]], str] = field(default_factory=dict)


@dataclass
class JobConfig:
    """A job's config: derived from its shape (`task` and `shape` set), or composed in full (`full` set)."""

    overrides: list[str]
    task: DictConfig | None = None  # derived: the config the task function receives
    shape: Shape | None = None
    values: list[Override] = field(default_factory=list)  # the value overrides applied to the shape
    task_overrides: list[Override] = field(default_factory=list)  # those not Hydra's: `hydra.overrides.task`
    full: DictConfig | None = None  # Hydra's own composition, the Hydra node included

    @property
    def derived(self) -> bool:
        return self.shape is not None


class ReusingConfigLoader(ConfigLoader):
    """Hydra's config loader; sweep configs derived from one composition per shape, each kept until `take`n."""

    def __init__(self, loader: ConfigLoader):
        self.loader = loader
        self.parser = OverridesParser.create()
        self.parsed: dict[str, Override] = {}  # an override string parsed once: the jobs of a sweep share them
        self.shapes: dict[tuple, Shape | None] = {}  # None: the shape is composed in full for every job
        self.kept: dict[tuple, list[JobConfig]] = {}
        self.groups: dict[str, bool] = {}
        self.clock = Clock()  # the time spent composing and deriving
        self.compositions = Clock()  # of which Hydra's compositions

    @staticmethod
    def _key(master_config: DictConfig, sweep_overrides: list[str]) -> tuple:
        return id(master_config), tuple(sweep_overrides)

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        job = self.derive(master_config, sweep_overrides)
        self.kept.setdefault(self._key(master_config, sweep_overrides), []).append(job)
        return job.full if job.full is not None else job.task

    def take(self, master_config: DictConfig, sweep_overrides: list[str]) -> JobConfig:
        """The job's config: the one made for these overrides while the batch was checked, else a new one."""
        key = self._key(master_config, sweep_overrides)
        kept = self.kept.get(key)
        if not kept:
            return self.derive(master_config, sweep_overrides)
        job = kept.pop(0)
        if not kept:
            del self.kept[key]
        # As load_sweep_config does, now: a `${now:}` the master config resolved since then resolves the same.
        OmegaConf.copy_cache(from_config=master_config, to_config=job.full if job.full is not None else job.task)
        return job

    # -- deriving ----------------------------------------------------------------------------------
    def derive(self, master: DictConfig, overrides: list[str]) -> JobConfig:
        with self.clock:
            return self._derive(master, overrides)

    def _derive(self, master: DictConfig, overrides: list[str]) -> JobConfig:
        split = self._split(overrides)
        if split is None:
            return JobConfig(list(overrides), full=self._compose(master, overrides))
        shape_overrides, values, parsed = split
        key = (id(master), tuple(shape_overrides))
        if key not in self.shapes:
            self.shapes[key] = self._compose_shape(master, shape_overrides)
        shape = self.shapes[key]
        job = _apply(shape, overrides, values, parsed) if shape is not None else None
        if shape is not None and not shape.checked:
            shape.checked = True
            if job is None or not _same_as_hydra(job, self._compose(master, overrides)):
                self.shapes[key] = shape = job = None
        if job is None:  # Hydra composes it, and says what is wrong if anything is
            return JobConfig(list(overrides), full=self._compose(master, overrides))
        return job

    def _compose(self, master: DictConfig, overrides: list[str]) -> DictConfig:
        with self.compositions:
            return self.loader.load_sweep_config(master, list(overrides))

    def _split(self, overrides: list[str]) -> tuple[list[str], list[Override], list[Override]] | None:
        """The overrides that choose the shape, the value overrides applied to it, and all of them parsed (None:
        compose in full)."""
        try:
            parsed = [self._parse(text) for text in overrides]
        except Exception:
            return None
        shape, values = [], []
        for override in parsed:
            if self._is_value(override):
                values.append(override)
            else:
                shape.append(override.input_line)
        return shape, values, parsed

    def _parse(self, text: str) -> Override:
        """Hydra's parse of one override (it parses a list one string at a time)."""
        if text not in self.parsed:
            self.parsed[text] = self.parser.parse_overrides([text])[0]
        return self.parsed[text]

    def _is_value(self, override: Override) -> bool:
        """A plain `key=value` on a config key, which Hydra applies after composing."""
        if override.type != OverrideType.CHANGE or override.package is not None or override.is_hydra_override():
            return False
        key = override.key_or_group
        if key not in self.groups:
            self.groups[key] = bool(self.loader.get_group_options(key))
        return not self.groups[key]

    def _compose_shape(self, master: DictConfig, shape_overrides: list[str]) -> Shape | None:
        try:
            full = self._compose(master, shape_overrides)
        except Exception:  # each job is composed in full, and fails with Hydra's own message
            return None
        task = copy.deepcopy(full)
        with read_write(task), open_dict(task):
            del task["hydra"]
        hydra = OmegaConf.to_container(full.hydra, resolve=False, enum_to_str=True)
        return Shape(
            full=full,
            task=task,
            task_pickle=pickle.dumps(task),
            hydra=hydra,
            config_text={key: _dump({key: value}) for key, value in _container(task).items()},
            hydra_text=_hydra_pieces(hydra),
        )

    # Everything else is the wrapped loader's.
    def load_configuration(self, *args: Any, **kwargs: Any) -> DictConfig:
        return self.loader.load_configuration(*args, **kwargs)

    def get_search_path(self):
        return self.loader.get_search_path()

    def get_sources(self):
        return self.loader.get_sources()

    def list_groups(self, parent_name: str):
        return self.loader.list_groups(parent_name)

    def get_group_options(self, *args: Any, **kwargs: Any):
        return self.loader.get_group_options(*args, **kwargs)

    def compute_defaults_list(self, *args: Any, **kwargs: Any):
        return self.loader.compute_defaults_list(*args, **kwargs)


def _apply(shape: Shape, overrides: list[str], values: list[Override], parsed: list[Override]) -> JobConfig | None:
    """The shape's config with the value overrides applied as Hydra applies them (None: one does not apply)."""
    task = pickle.loads(shape.task_pickle)  # a copy: OmegaConf pickles a config whole (types, flags, parents)
    try:
        for override in values:
            OmegaConf.update(task, override.key_or_group, override.value(), merge=True)
    except Exception:
        return None
    task_overrides = [o for o in parsed if not o.is_hydra_override()]  # as Hydra splits them
    return JobConfig(list(overrides), task=task, shape=shape, values=values, task_overrides=task_overrides)


def hydra_node(job: JobConfig, num: int, output_dir: str | None) -> dict:
    """The job's Hydra node as plain containers: the shape's, with the fields that name the job set."""
    from hydra._internal.config_loader_impl import get_overrides_dirname

    hydra = dict(job.shape.hydra)
    task = [o.input_line for o in job.task_overrides]
    job_node = dict(hydra["job"])
    dirname = job_node["config"]["override_dirname"]
    job_node["override_dirname"] = get_overrides_dirname(
        overrides=job.task_overrides,
        exclude_keys=dirname["exclude_keys"],
        item_sep=dirname["item_sep"],
        kv_sep=dirname["kv_sep"],
    )
    job_node["id"], job_node["num"] = str(num), num  # JobConf.id is a str field: Hydra stores the number as text
    hydra["job"] = job_node
    if output_dir is not None:
        hydra["runtime"] = {**hydra["runtime"], "output_dir": output_dir}
    hydra["overrides"] = {**hydra["overrides"], "task": task}
    return hydra


def full_config(job: JobConfig, num: int) -> DictConfig:
    """Hydra's whole config of the job, as `load_sweep_config` and the basic launcher make it."""
    if job.full is not None:
        cfg = job.full
    else:
        cfg = copy.deepcopy(job.shape.full)
        for override in job.values:
            OmegaConf.update(cfg, override.key_or_group, override.value(), merge=True)
        node = hydra_node(job, num, None)
        with read_write(cfg.hydra), open_dict(cfg.hydra):
            cfg.hydra.overrides.task = node["overrides"]["task"]
            cfg.hydra.job.override_dirname = node["job"]["override_dirname"]
    with open_dict(cfg):
        cfg.hydra.job.id = cfg.hydra.job.num = num
    return cfg


# -- the job's .hydra/ files, as Hydra's run_job writes them (OmegaConf.to_yaml of each) -------------------------
# `OmegaConf.to_yaml(cfg)` is `yaml.dump` of `OmegaConf.to_container(cfg, resolve=False, enum_to_str=True)` with
# OmegaConf's dumper (its quoting of strings that read as numbers or booleans). A block mapping's text is its
# keys' texts one after another, so the shape's text is kept per key and only the keys a job changes are
# written anew, from plain containers: no OmegaConf node is built for them.
def _dump(tree: dict) -> str:
    from omegaconf._utils import get_omega_conf_dumper  # OmegaConf.to_yaml's own dumper (internal)

    return yaml.dump(
        tree, default_flow_style=False, allow_unicode=True, sort_keys=False, Dumper=get_omega_conf_dumper()
    )


def _container(cfg: DictConfig) -> dict:
    return OmegaConf.to_container(cfg, resolve=False, enum_to_str=True)


def config_yaml(job: JobConfig) -> str:
    """`.hydra/config.yaml`: the shape's text, with the top-level keys that value overrides touch written anew
    (or as another job with the same overrides of that key had them written)."""
    touched: dict[str, tuple[str, ...]] = {}  # top-level key -> the overrides under it, in order
    for override in job.values:
        key = override.key_or_group.split(".", 1)[0]
        touched[key] = (*touched.get(key, ()), override.input_line)
    texts = job.shape.key_texts
    missing = [key for key, lines in touched.items() if (key, lines) not in texts]
    if missing:
        tree = _container(OmegaConf.masked_copy(job.task, missing))
        for key in missing:
            texts[key, touched[key]] = _dump({key: tree[key]}) if key in tree else job.shape.config_text.get(key, "")
    return "".join(texts[key, touched[key]] if key in touched else text for key, text in job.shape.config_text.items())


def hydra_yaml(hydra: dict, shape: Shape) -> str:
    """`.hydra/hydra.yaml` of the job whose Hydra node is `hydra` (from `hydra_node`)."""
    return "".join(
        piece if isinstance(piece, str) else _hydra_field_yaml(*piece, hydra[piece[0]][piece[1]])
        for piece in shape.hydra_text
    )


def overrides_yaml(hydra: dict) -> str:
    """`.hydra/overrides.yaml`: the task overrides as a YAML list, each item's line written once."""
    task = hydra["overrides"]["task"]
    return "".join(_top_item_yaml(item) for item in task) if task else _dump(task)


@functools.lru_cache(maxsize=4096)
def _top_item_yaml(item: str) -> str:
    return _dump([item])


def _hydra_pieces(hydra: dict) -> list[str | tuple[str, str]]:
    """hydra.yaml's text cut around the per-job fields, which are written anew for each job."""
    pieces: list[str | tuple[str, str]] = ["hydra:\n"]
    for child, value in hydra.items():
        if child not in PER_JOB or not value:
            pieces.append(_dump({"hydra": {child: value}})[len("hydra:\n") :])
            continue
        pieces.append(f"  {child}:\n")
        for name, field_value in value.items():
            pieces.append((child, name) if name in PER_JOB[child] else _hydra_field_yaml(child, name, field_value))
    return pieces


def _hydra_field_yaml(child: str, name: str, value: Any) -> str:
    """The lines of `hydra.<child>.<name>`, written at their own depth (the line width depends on it).

    A list of strings (`overrides.task`) is its items' lines one after another under `name:`, each item's
    written once for all the jobs that share it."""
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return f"    {name}:\n" + "".join(_list_item_yaml(child, name, item) for item in value)
    return _dump({"hydra": {child: {name: value}}}).split("\n", 2)[2]


@functools.lru_cache(maxsize=4096)
def _list_item_yaml(child: str, name: str, item: str) -> str:
    return _dump({"hydra": {child: {name: [item]}}}).split("\n", 3)[3]


def _same_as_hydra(job: JobConfig, hydra: DictConfig) -> bool:
    """The derived job's config and file texts equal those of Hydra's own composition of the job."""
    full = full_config(job, 0)
    with open_dict(hydra):
        hydra.hydra.job.id = hydra.hydra.job.num = 0
    if OmegaConf.to_yaml(full) != OmegaConf.to_yaml(hydra):
        return False
    task = copy.deepcopy(hydra)
    with read_write(task), open_dict(task):
        del task["hydra"]
    mine = hydra_node(job, 0, os.path.abspath("/"))
    with read_write(hydra.hydra), open_dict(hydra.hydra):
        hydra.hydra.runtime.output_dir = os.path.abspath("/")
    expected_hydra = OmegaConf.to_yaml(OmegaConf.masked_copy(hydra, "hydra"))
    return config_yaml(job) == OmegaConf.to_yaml(task) and hydra_yaml(mine, job.shape) == expected_hydra
