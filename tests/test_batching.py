"""The index-batching data path: complete, shuffled, reproducible epochs; partial batches; disjoint shards."""

import pytest
import torch

from litlab.data.batching import IndexBatchSampler, batch_loader


def epoch(sampler: IndexBatchSampler, n: int) -> list[torch.Tensor]:
    sampler.set_epoch(n)
    return list(sampler)


def test_every_sample_once_per_epoch():
    sampler = IndexBatchSampler(1000, 64, shuffle=True, seed=0)
    batches = epoch(sampler, 0)
    assert len(batches) == len(sampler) == 16
    assert sorted(torch.cat(batches).tolist()) == list(range(1000))


def test_order_differs_between_epochs_and_is_reproducible():
    a, b = IndexBatchSampler(500, 50, seed=3), IndexBatchSampler(500, 50, seed=3)
    first, second = torch.cat(epoch(a, 0)), torch.cat(epoch(a, 1))
    assert not torch.equal(first, second)
    assert torch.equal(second, torch.cat(epoch(b, 1)))  # the same epoch after a restart: same order
    assert not torch.equal(first, torch.cat(epoch(IndexBatchSampler(500, 50, seed=4), 0)))


@pytest.mark.parametrize(("drop_last", "sizes"), [(False, [64] * 15 + [40]), (True, [64] * 15)])
def test_last_partial_batch(drop_last, sizes):
    assert [len(b) for b in epoch(IndexBatchSampler(1000, 64, drop_last=drop_last), 0)] == sizes


@pytest.mark.parametrize("n", [1000, 1001])
def test_shards_are_disjoint_and_complete_across_two_ranks(n):
    shards = [torch.cat(epoch(IndexBatchSampler(n, 32, seed=1, rank=r, world_size=2), 5)) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1])  # equal step counts, or DDP would hang
    union = set(shards[0].tolist()) | set(shards[1].tolist())
    assert union == set(range(n))
    if n % 2 == 0:
        assert not set(shards[0].tolist()) & set(shards[1].tolist())


def test_evaluation_shards_are_not_padded():
    shards = [torch.cat(epoch(IndexBatchSampler(101, 10, shuffle=False, rank=r, world_size=2), 0)) for r in (0, 1)]
    assert sorted(torch.cat(shards).tolist()) == list(range(101))


def test_loader_yields_batches_of_the_tensors():
    x, y = torch.arange(10.0).unsqueeze(1), torch.arange(10)
    batches = list(batch_loader(x, y, batch_size=4, shuffle=False))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    assert torch.equal(batches[0][0].squeeze(1), batches[0][1].float())


def test_batches_are_the_rows_the_indices_name():
    x, y = torch.randn(100, 1, 28, 28), torch.randint(0, 10, (100,))
    sampler = IndexBatchSampler(100, 32, seed=2)
    loader = batch_loader(x, y, batch_size=32, shuffle=True, seed=2)
    for idx, (xb, yb) in zip(epoch(sampler, 0), loader):
        assert torch.equal(xb, x[idx]) and torch.equal(yb, y[idx])


def test_the_loader_gathers_on_the_device_of_its_tensors():
    # The "meta" device stands in for a GPU on a CPU-only machine: no data, but devices and shapes are real.
    x, y = torch.empty(70, 4, device="meta"), torch.empty(70, dtype=torch.long, device="meta")
    batches = list(batch_loader(x, y, batch_size=32, shuffle=True))
    assert [b[0].shape for b in batches] == [(32, 4), (32, 4), (6, 4)]
    assert all(t.device.type == "meta" for b in batches for t in b)
    assert IndexBatchSampler(70, 32, device="meta")._shard().device.type == "meta"


def test_data_module_moves_each_split_to_the_trainer_device_once(make_cfg):
    from types import SimpleNamespace

    from hydra.utils import instantiate

    dm = instantiate(make_cfg("data=iris").data)
    dm.setup("fit")
    x, y = dm.splits["train"]
    assert dm.on_device("train", "cpu")[0] is x  # already there: no copy
    on_meta = dm.on_device("train", "meta")
    assert on_meta[0].device.type == "meta" and on_meta[0].shape == x.shape
    assert dm.on_device("train", "meta")[0] is on_meta[0]  # moved once, then reused
    dm.trainer = SimpleNamespace(
        global_rank=0, world_size=1, strategy=SimpleNamespace(root_device=torch.device("meta"))
    )
    xb, yb = next(iter(dm.train_dataloader()))
    assert xb.device.type == yb.device.type == "meta" and len(xb) == dm.batch_size
