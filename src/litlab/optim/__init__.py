"""Optimizers written from their update equations (`optimizer=scratch_*`), twins of `torch.optim`'s."""
