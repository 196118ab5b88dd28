"""litlab: the basics of deep learning with Lightning and Hydra.

From Python or a notebook, the twins of `python train.py ...` and `python train.py -m ...`:

    import litlab
    result = litlab.train("model=mlp", "optimizer=rmsprop", "trainer.max_epochs=5")
    study = litlab.sweep("data=iris", "optimizer=sgd,adam", "seed=0,1,2")

`import litlab` stays cheap: Lightning and Hydra load on the first call (see litlab/api.py).
"""

from litlab.errors import LitlabError

__version__ = "0.1.0"
__all__ = ["LitlabError", "sweep", "train"]


def __getattr__(name: str):
    if name in ("train", "sweep"):
        from litlab import api

        return getattr(api, name)
    raise AttributeError(f"module 'litlab' has no attribute {name!r}")
