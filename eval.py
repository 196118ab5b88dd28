"""Evaluate a checkpoint on the test split (or `split=val`) of the data it was trained on.

    python eval.py ckpt_path=outputs/runs/DATE/TIME/checkpoints/epoch009.ckpt
    python eval.py ckpt_path=... split=val

Model and data come from the config saved in the checkpoint (conf/eval.yaml lists the keys).
Prints the metrics and writes them to metrics.json in `outputs/eval/DATE/TIME/`.
"""

from omegaconf import DictConfig

from litlab.cli import bad_input_exits, entry_point


@entry_point("eval")
def main(cfg: DictConfig) -> None:
    from litlab.config.checks import check_config
    from litlab.startup import collector_paused

    with bad_input_exits():  # inside the task, so Hydra does not print "Error executing job..." first
        with collector_paused():  # the checks and the import load torch and Lightning
            check_config(cfg)
            from litlab.evaluate import evaluate  # imported here so that --help stays fast

        evaluate(cfg)


if __name__ == "__main__":
    main()
