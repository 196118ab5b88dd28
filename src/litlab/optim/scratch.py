"""The optimizers of d2l chapter 12, written from their update equations.

Each is a `torch.optim.Optimizer` with the hyperparameters (names and meaning) of its `torch.optim`
twin, so `optimizer=scratch_adam` takes the keys of `optimizer=adam`, schedulers and the lr monitor
work on it, and its state is saved in checkpoints. Like torch's, every one reads a per-group
`weight_decay` and adds `weight_decay * p` to the gradient (the regularization group sets it on the
weights only). tests/test_scratch_optimizers.py checks each against its twin to 1e-6.

Notation: g the gradient, p the parameter, t the step count, lr the learning rate.
"""

import torch
from torch.optim import Optimizer


class _Scratch(Optimizer):
    """One `step` for all: for every parameter with a gradient, `update(p, g, state, group)`."""

    def __init__(self, params, **defaults):
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if group["weight_decay"] != 0:
                    g = g + group["weight_decay"] * p  # the gradient of (weight_decay / 2) * ||p||^2
                self.update(p, g, self.state[p], group)
        return loss

    def update(self, p: torch.Tensor, g: torch.Tensor, state: dict, group: dict) -> None:
        raise NotImplementedError


class ScratchSGD(_Scratch):
    """Minibatch SGD with optional heavy-ball or Nesterov momentum (d2l 12.4, 12.6).

    v <- momentum * v + (1 - dampening) * g   (v = g at the first step)
    p <- p - lr * v,  or with Nesterov  p <- p - lr * (g + momentum * v)
    """

    def __init__(
        self,
        params,
        lr: float = 0.1,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(
            params, lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov, weight_decay=weight_decay
        )

    def update(self, p, g, state, group):
        momentum = group["momentum"]
        if momentum != 0:
            if "velocity" not in state:
                state["velocity"] = g.clone()
            else:
                state["velocity"].mul_(momentum).add_((1 - group["dampening"]) * g)
            g = g + momentum * state["velocity"] if group["nesterov"] else state["velocity"]
        p.sub_(group["lr"] * g)


class ScratchAdagrad(_Scratch):
    """Adagrad (d2l 12.7): per-coordinate steps shrinking with the sum of squared gradients.

    s <- s + g^2;  p <- p - lr_t * g / (sqrt(s) + eps),  lr_t = lr / (1 + (t - 1) * lr_decay)
    """

    def __init__(
        self,
        params,
        lr: float = 0.01,
        lr_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        weight_decay: float = 0.0,
    ):
        super().__init__(
            params,
            lr=lr,
            lr_decay=lr_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
            weight_decay=weight_decay,
        )

    def update(self, p, g, state, group):
        if not state:
            state["step"] = 0
            state["sum"] = torch.full_like(p, group["initial_accumulator_value"])
        state["step"] += 1
        state["sum"].add_(g * g)
        lr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        p.sub_(lr * g / (state["sum"].sqrt() + group["eps"]))


class ScratchRMSprop(_Scratch):
    """RMSprop (d2l 12.8): steps scaled by a leaky average of squared gradients (alpha is d2l's gamma).

    s <- alpha * s + (1 - alpha) * g^2;  p <- p - lr * g / (sqrt(s) + eps)
    centered: s - m^2 in place of s, m the leaky average of g. momentum: a velocity of the scaled steps.
    """

    def __init__(
        self,
        params,
        lr: float = 0.01,
        alpha: float = 0.99,
        eps: float = 1e-8,
        momentum: float = 0.0,
        centered: bool = False,
        weight_decay: float = 0.0,
    ):
        super().__init__(
            params, lr=lr, alpha=alpha, eps=eps, momentum=momentum, centered=centered, weight_decay=weight_decay
        )

    def update(self, p, g, state, group):
        alpha = group["alpha"]
        if not state:
            state["square_avg"] = torch.zeros_like(p)
            state["grad_avg"] = torch.zeros_like(p)
            state["velocity"] = torch.zeros_like(p)
        s = state["square_avg"].mul_(alpha).add_((1 - alpha) * g * g)
        if group["centered"]:
            m = state["grad_avg"].mul_(alpha).add_((1 - alpha) * g)
            s = s - m * m
        step = g / (s.sqrt() + group["eps"])
        if group["momentum"] > 0:
            step = state["velocity"].mul_(group["momentum"]).add_(step)
        p.sub_(group["lr"] * step)


class ScratchAdadelta(_Scratch):
    """Adadelta (d2l 12.9): no learning rate of its own; the step is rescaled by the leaky average of past steps.

    s <- rho * s + (1 - rho) * g^2;  g' = sqrt(dx + eps) / sqrt(s + eps) * g
    dx <- rho * dx + (1 - rho) * g'^2;  p <- p - lr * g'   (lr only scales the step; 1 is d2l's)
    """

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0.0):
        super().__init__(params, lr=lr, rho=rho, eps=eps, weight_decay=weight_decay)

    def update(self, p, g, state, group):
        rho, eps = group["rho"], group["eps"]
        if not state:
            state["square_avg"] = torch.zeros_like(p)
            state["delta_avg"] = torch.zeros_like(p)
        s = state["square_avg"].mul_(rho).add_((1 - rho) * g * g)
        step = (state["delta_avg"] + eps).sqrt() / (s + eps).sqrt() * g
        state["delta_avg"].mul_(rho).add_((1 - rho) * step * step)
        p.sub_(group["lr"] * step)


class ScratchAdam(_Scratch):
    """Adam (d2l 12.10): momentum and RMSprop scaling, both bias-corrected.

    v <- b1 * v + (1 - b1) * g;  s <- b2 * s + (1 - b2) * g^2
    p <- p - lr * v_hat / (sqrt(s_hat) + eps),  v_hat = v / (1 - b1^t), s_hat = s / (1 - b2^t)
    amsgrad: the running maximum of s in place of s.
    """

    def __init__(
        self,
        params,
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        amsgrad: bool = False,
        weight_decay: float = 0.0,
    ):
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, amsgrad=amsgrad, weight_decay=weight_decay)

    def update(self, p, g, state, group):
        b1, b2 = group["betas"]
        if not state:
            state["step"] = 0
            state["v"] = torch.zeros_like(p)
            state["s"] = torch.zeros_like(p)
            state["s_max"] = torch.zeros_like(p)
        state["step"] += 1
        t = state["step"]
        v = state["v"].mul_(b1).add_((1 - b1) * g)
        s = state["s"].mul_(b2).add_((1 - b2) * g * g)
        if group["amsgrad"]:
            s = torch.maximum(state["s_max"], s, out=state["s_max"])
        v_hat, s_hat = v / (1 - b1**t), s / (1 - b2**t)
        p.sub_(group["lr"] * v_hat / (s_hat.sqrt() + group["eps"]))
