"""After testing an image classifier, show test images titled with predicted vs true label in TensorBoard."""

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger


class PredictionGrid(L.Callback):
    def __init__(self, num_images: int = 18, columns: int = 6):
        self.num_images, self.columns = num_images, columns

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:  # under DDP one figure, drawn by rank 0
            return
        dm = trainer.datamodule
        logger = next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
        if logger is None or dm is None or not getattr(dm, "is_image", False) or dm.task != "classification":
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        x, y = dm.splits["test"]
        x, y = x[: self.num_images], y[: self.num_images]
        with torch.no_grad():
            pred = pl_module(x.to(pl_module.device)).argmax(dim=1).cpu()
        names = dm.class_names or [str(i) for i in range(dm.num_outputs)]
        rows = -(-len(x) // self.columns)
        fig, axes = plt.subplots(rows, self.columns, figsize=(1.6 * self.columns, 1.9 * rows))
        for ax, image, p, t in zip(axes.flat, x.cpu(), pred, y):
            ax.imshow(image[0], cmap="gray")
            ax.set_title(f"{names[p]}\n{names[t]}", fontsize=8, color="black" if p == t else "red")
            ax.axis("off")
        for ax in list(axes.flat)[len(x) :]:
            ax.axis("off")
        fig.suptitle("predicted (top) / true (bottom)", fontsize=9)
        fig.tight_layout()
        logger.experiment.add_figure("test/predictions", fig, global_step=trainer.global_step)
        plt.close(fig)
