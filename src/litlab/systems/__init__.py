"""Training systems (`LightningModule`s) that receive a network; one per task."""

from litlab.systems.classifier import Classifier
from litlab.systems.regressor import Regressor

SYSTEMS = {"classification": Classifier, "regression": Regressor}
