"""Classification: cross-entropy loss, accuracy (d2l's `Classifier`)."""

import torch.nn.functional as F
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from litlab.systems.base import System


class Classifier(System):
    def __init__(self, network, optimizer, num_classes: int, **kwargs):
        self.num_classes = num_classes
        super().__init__(network, optimizer, **kwargs)

    def loss_fn(self, output, target):
        return F.cross_entropy(output, target)

    def make_scores(self):
        return MetricCollection({"acc": MulticlassAccuracy(self.num_classes, average="micro")})
