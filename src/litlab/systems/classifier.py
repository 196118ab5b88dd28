"""Classification: cross-entropy loss, accuracy (d2l's `Classifier`); predictions are class probabilities."""

import torch.nn.functional as F
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from litlab.systems.base import System
from litlab.systems.cross_entropy import cross_entropy as scratch_cross_entropy


class Classifier(System):
    def __init__(self, network, optimizer, num_classes: int, **kwargs):
        self.num_classes = num_classes
        super().__init__(network, optimizer, **kwargs)
        # A network built with model.impl=scratch is trained with the hand-written cross-entropy too.
        scratch = getattr(network, "impl", "torch") == "scratch"
        self.cross_entropy = scratch_cross_entropy if scratch else F.cross_entropy

    def loss_fn(self, output, target):
        return self.cross_entropy(output, target)

    def predictions(self, output):
        return F.softmax(output, dim=-1)

    def make_scores(self):
        return MetricCollection({"acc": MulticlassAccuracy(self.num_classes, average="micro")})
