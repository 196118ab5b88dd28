"""The widely reproduced backpropagation worked example (Matt Mazur's): one SGD step, by autograd, to 1e-6.

Two inputs, two sigmoid hidden units, two sigmoid outputs, loss 1/2 sum (out - target)^2, SGD lr 0.5. Run
with torch's layers and optimizer, and with litlab's hand-written twins (model.impl=scratch, scratch_sgd).
"""

import pytest
import torch
from torch import nn

from litlab.models import scratch
from litlab.optim.scratch import ScratchSGD

HIDDEN_AFTER = [[0.149780716, 0.19956143], [0.24975114, 0.29950229]]
OUTPUT_AFTER = [[0.35891648, 0.408666186], [0.511301270, 0.561370121]]


@pytest.mark.parametrize(("layers", "sgd"), [(nn, torch.optim.SGD), (scratch, ScratchSGD)], ids=["torch", "scratch"])
def test_one_sgd_step_matches_the_hand_computation(layers, sgd):
    hidden, output = layers.Linear(2, 2), layers.Linear(2, 2)
    network = nn.Sequential(hidden, layers.Sigmoid(), output, layers.Sigmoid()).double()
    with torch.no_grad():
        hidden.weight.copy_(torch.tensor([[0.15, 0.20], [0.25, 0.30]]))  # row j: the weights into hidden unit j
        hidden.bias.fill_(0.35)
        output.weight.copy_(torch.tensor([[0.40, 0.45], [0.50, 0.55]]))
        output.bias.fill_(0.60)
    x, target = torch.tensor([[0.05, 0.10]], dtype=torch.double), torch.tensor([[0.01, 0.99]], dtype=torch.double)
    optimizer = sgd(network.parameters(), lr=0.5)

    loss = 0.5 * ((network(x) - target) ** 2).sum()
    loss.backward()
    optimizer.step()

    assert loss.item() == pytest.approx(0.298371109, abs=1e-6)
    torch.testing.assert_close(output.weight, torch.tensor(OUTPUT_AFTER, dtype=torch.double), rtol=0, atol=1e-6)
    torch.testing.assert_close(hidden.weight, torch.tensor(HIDDEN_AFTER, dtype=torch.double), rtol=0, atol=1e-6)
