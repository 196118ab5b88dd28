"""The config's types and value rules: `schema.py` declares them, `checks.py` enforces them.

Both import only Hydra and OmegaConf, so `train.py` refuses a bad config before torch and Lightning load.
"""
