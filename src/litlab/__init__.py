"""litlab: the basics of deep learning with Lightning and Hydra."""

__version__ = "0.1.0"
