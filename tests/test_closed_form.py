"""`model=linreg model.solver=closed_form`: the least-squares solution, logged like an SGD run."""

import pytest
import torch
import torch.nn.functional as F
from conftest import read_metrics
from sklearn.linear_model import Ridge

from litlab.data.polynomial import TRUE_W, PolynomialDataModule
from litlab.errors import LitlabError
from litlab.models.linreg import LinearRegression
from litlab.run import train
from litlab.systems.closed_form import least_squares, solve_into
from litlab.systems.regressor import Regressor


def test_closed_form_recovers_w_and_b_on_synthetic_linear(make_cfg, tmp_path):
    train(
        make_cfg(
            "data=synthetic_linear",
            "model=linreg",
            "model.solver=closed_form",
            f"paths.output_dir={tmp_path / 'closed_form'}",
        )
    )
    train(
        make_cfg(
            "data=synthetic_linear", "model=linreg", "trainer.max_epochs=1", f"paths.output_dir={tmp_path / 'sgd'}"
        )
    )
    solved, sgd = read_metrics(tmp_path / "closed_form"), read_metrics(tmp_path / "sgd")
    assert solved["status"] == "completed" and solved["epochs"] == 1  # one epoch measures the solution
    assert solved["params/w_error"] < 1e-3 and solved["params/b_error"] < 1e-3
    assert solved["test/mse"] < 2e-4  # the noise floor is 1e-4
    same_as_sgd = {k for k in sgd if not k.startswith("lr-")}  # no optimizer steps: no learning rate to log
    assert same_as_sgd <= set(solved)
    state = torch.load(solved["best_checkpoint"], map_location="cpu", weights_only=True)["state_dict"]
    torch.testing.assert_close(state["network.linear.weight"].flatten(), torch.tensor([2.0, -3.4]), atol=1e-3, rtol=0)


def test_ridge_solution_is_the_minimum_of_the_training_objective():
    """l2 > 0: the solution zeroes the gradient of the system's own loss + penalty, and equals scikit-learn's Ridge."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 3, generator=g, dtype=torch.float64)
    y = (
        x @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
        + 3
        + 0.5 * torch.randn(50, generator=g, dtype=torch.float64)
    )
    l2 = 0.3
    w, b = least_squares(x, y, l2)
    ridge = Ridge(alpha=len(x) * l2 / 2).fit(x.numpy(), y.numpy())  # sum of squares + alpha ||w||^2
    torch.testing.assert_close(w, torch.from_numpy(ridge.coef_), rtol=0, atol=1e-8)
    assert b.item() == pytest.approx(ridge.intercept_, abs=1e-8)

    network = LinearRegression(3).double()
    system = Regressor(network, torch.optim.SGD, l2=l2, l2_impl="scratch")  # the penalty in the loss
    solve_into(network.linear, x, y, l2)
    (system.loss_fn(network(x), y) + system.penalty()).backward()
    for p in network.parameters():
        assert p.grad.abs().max() < 1e-8
    assert w.norm() < least_squares(x, y)[0].norm()  # and the penalty did shrink the weights


def test_closed_form_on_polynomial_features_beside_sgd():
    """d2l 4.4, 4 features. The solution is the minimum of the training loss, so no SGD run goes lower; and
    its weights are closer to the true ones than d2l's SGD run's, w = [4.947, 1.374, -3.294, 5.060] (d2l's)."""
    data = PolynomialDataModule(num_features=4, seed=0)  # d2l 4.4's data, its first 4 features; 100 to train on
    data.setup("fit")
    x, y = data.splits["train"]
    true_w = torch.tensor(TRUE_W)
    torch.manual_seed(0)
    sgd = LinearRegression(4, bias=False)  # d2l's setting: lr 0.01, batch 10, 400 epochs
    optimizer = torch.optim.SGD(sgd.parameters(), lr=0.01)
    for _epoch in range(400):
        for idx in torch.randperm(len(x)).split(10):
            optimizer.zero_grad()
            F.mse_loss(sgd(x[idx]), y[idx]).backward()
            optimizer.step()
    solved = LinearRegression(4, bias=False, solver="closed_form")
    solve_into(solved.linear, x, y)
    with torch.no_grad():
        assert F.mse_loss(solved(x), y) <= F.mse_loss(sgd(x), y)
        assert F.mse_loss(sgd(x), y) < 0.02  # SGD did learn: the noise floor is 0.01
    d2l_sgd_error = (torch.tensor([4.947, 1.374, -3.294, 5.060]) - true_w).norm()
    solved_error = (solved.linear.weight.detach().flatten() - true_w).norm()
    assert solved_error < 0.1 < d2l_sgd_error


def test_closed_form_refuses_l1(make_cfg):
    with pytest.raises(LitlabError, match="regularization.l1"):
        train(make_cfg("data=synthetic_linear", "model=linreg", "model.solver=closed_form", "regularization=l1"))
