"""Stacked sweeps: the jobs of a multirun that differ only in stackable keys train together as one model.

`hydra/launcher=stacked` (src/hydra_plugins/litlab_stacked/) hands a sweep's jobs to `launch.launch`, which
groups them (grouping.py), trains each group as one network whose parameters carry a leading member
dimension (network.py, system.py, loop.py) and writes every member's folder as a single run writes it
(member.py). Jobs that cannot stack run one after another, exactly as the basic launcher runs them.
"""
