"""Networks as plain `nn.Module`s: they know nothing of training. Each declares the `tasks` it fits."""
