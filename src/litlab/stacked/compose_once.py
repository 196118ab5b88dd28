"""Each job of a stacked sweep composed once, not twice.

Hydra's sweepers check a batch before launching it (`Sweeper.validate_batch_is_legal` composes every job's
config and drops it), then the launcher composes every job again (`load_sweep_config`): two compositions
of about 0.1 s each per job. The stacked launcher, in `setup()`, puts a `ReusingConfigLoader` in the
`HydraContext` it shares with the sweeper: the configs the sweeper composes are kept, and the launcher
`take`s each one once instead of composing it again.

Exact: a kept config is Hydra's own composition for the same master config and overrides, which nothing
changed in between (the sweeper only checks that composing works); the one step of `load_sweep_config`
that reads state that could have moved since, copying the master config's resolver cache (`${now:...}`
and other cached interpolations), is done again when the config is taken. tests/test_stacked.py compares
a taken config with a fresh composition.
"""

from typing import Any

from hydra.core.config_loader import ConfigLoader
from omegaconf import DictConfig, OmegaConf


class ReusingConfigLoader(ConfigLoader):
    """Hydra's config loader; the configs composed by `load_sweep_config` wait to be taken once by `take`."""

    def __init__(self, loader: ConfigLoader):
        self.loader = loader
        self.kept: dict[tuple, list[DictConfig]] = {}

    @staticmethod
    def _key(master_config: DictConfig, sweep_overrides: list[str]) -> tuple:
        return id(master_config), tuple(sweep_overrides)

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        config = self.loader.load_sweep_config(master_config, sweep_overrides)
        self.kept.setdefault(self._key(master_config, sweep_overrides), []).append(config)
        return config

    def take(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        """The job's config: the one composed for these overrides while the batch was checked, else a new one."""
        key = self._key(master_config, sweep_overrides)
        kept = self.kept.get(key)
        if not kept:
            return self.loader.load_sweep_config(master_config, sweep_overrides)
        config = kept.pop(0)
        if not kept:
            del self.kept[key]
        OmegaConf.copy_cache(from_config=master_config, to_config=config)  # as load_sweep_config does, now
        return config

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
