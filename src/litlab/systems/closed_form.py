"""`model=linreg model.solver=closed_form`: the least-squares weights, solved for instead of trained (d2l 3.1.1).

Before the first epoch the regressor writes the solution for the whole training split into the network's
linear layer; the epoch that follows changes no weight (the system is in manual optimization and never
computes a gradient), so train, val and test metrics, `params/*`, checkpoints and the test of the best
checkpoint are those of an SGD run, for the ideal weights. One epoch is enough: the solution does not change, so the
regressor stops the fit after it.
"""

import torch


def least_squares(x: torch.Tensor, y: torch.Tensor, l2: float = 0.0, bias: bool = True):
    """w, b minimising the training objective (1/n) ||X w + b - y||^2 + (l2 / 2) ||w||^2.

    That is the system's loss (mean squared error) plus the L2 penalty that `regularization.l2` puts on
    the weights, never on the bias. Setting its gradient to 0 gives (X^T X + (n l2 / 2) I) w = X^T (y - b):
    ridge regression with alpha = n * l2 / 2. `torch.linalg.lstsq` solves it as one least-squares system:
    the matrix [X 1] (the bias is the column of ones) stacked on [sqrt(alpha) I 0] (the penalty, as d rows
    whose targets are 0), against y stacked on zeros. Solved in float64, returned in the dtype of x.
    """
    n, d = x.shape
    a = x.double()
    if bias:
        a = torch.cat([a, torch.ones(n, 1, dtype=a.dtype)], dim=1)
    b_rhs = y.double().reshape(n, 1)
    if l2 > 0:
        penalty = (n * l2 / 2) ** 0.5 * torch.eye(d, a.shape[1], dtype=a.dtype)  # zero under the bias column
        a, b_rhs = torch.cat([a, penalty]), torch.cat([b_rhs, torch.zeros(d, 1, dtype=a.dtype)])
    solution = torch.linalg.lstsq(a, b_rhs, driver="gelsd").solution.squeeze(1).to(x.dtype)
    return solution[:d], (solution[d] if bias else None)


@torch.no_grad()
def solve_into(linear, x: torch.Tensor, y: torch.Tensor, l2: float = 0.0) -> None:
    """Write the least-squares solution for (x, y) into a linear layer's weight and bias."""
    w, b = least_squares(
        x.flatten(1).to(linear.weight.device), y.to(linear.weight.device), l2, bias=linear.bias is not None
    )
    linear.weight.copy_(w.reshape_as(linear.weight))
    if b is not None:
        linear.bias.fill_(b)
