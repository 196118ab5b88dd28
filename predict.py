"""Predict with a checkpoint: new rows of a CSV table, or the test split of the run's own data.

    python predict.py ckpt_path=outputs/runs/DATE/TIME/checkpoints/last.ckpt data.path=new_rows.csv
    python predict.py ckpt_path=outputs/runs/DATE/TIME/checkpoints/last.ckpt      # the run's test split

Model, data and the table's fitted preprocessing come from the checkpoint (conf/predict.yaml lists the keys).
Writes predictions.csv to `outputs/predict/DATE/TIME/` and prints where it went.
"""

from omegaconf import DictConfig

from litlab.cli import bad_input_exits, entry_point


@entry_point("predict")
def main(cfg: DictConfig) -> None:
    from litlab.config.checks import check_config
    from litlab.startup import collector_paused

    with bad_input_exits():  # inside the task, so Hydra does not print "Error executing job..." first
        with collector_paused():  # the checks and the import load torch and Lightning
            check_config(cfg)
            from litlab.predict import predict  # imported here so that --help stays fast

        predict(cfg)


if __name__ == "__main__":
    main()
