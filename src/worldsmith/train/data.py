"""Batches for the trainer, with a position that a checkpoint can save and a resume can restore.

Two kinds of `data` plug in:

- a map-style dataset (``len`` + ``__getitem__``, e.g. a `TensorDataset` or a plain tensor whose
  rows are samples): every epoch is a fresh permutation drawn from ``seed + epoch``, cut into global
  batches of ``batch_size``; data-parallel rank ``r`` of ``dp`` takes the ``r``-th slice of each.
  1 process and N processes therefore see the same global batches, and the position
  ``(epoch, batch)`` restores exactly.
- any iterable of ready batches (a `DataLoader`, a generator factory): if it has
  ``state_dict``/``load_state_dict`` (torchdata's `StatefulDataLoader`) those are used; otherwise a
  resume replays and discards the batches already consumed. Each rank iterates its own iterable.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset, default_collate

from worldsmith.errors import ConfigError


class _GlobalBatchSampler:
    """Index lists of this rank's part of each global batch, from batch `start` of epoch `epoch`."""

    def __init__(self, n: int, *, batch_size: int, dp_rank: int, dp: int, seed: int, epoch: int, start: int):
        self.n, self.batch_size, self.dp_rank, self.dp = n, batch_size, dp_rank, dp
        self.seed, self.epoch, self.start = seed, epoch, start

    def __iter__(self) -> Iterator[list[int]]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        perm = torch.randperm(self.n, generator=g)
        per_rank = self.batch_size // self.dp
        for b in range(self.start, self.n // self.batch_size):
            batch = perm[b * self.batch_size : (b + 1) * self.batch_size]
            yield batch[self.dp_rank * per_rank : (self.dp_rank + 1) * per_rank].tolist()

    def __len__(self) -> int:
        return self.n // self.batch_size - self.start


class BatchStream:
    """An endless iterator of this rank's batches; `state_dict()` says how far it got."""

    def __init__(
        self,
        data: Any,
        *,
        batch_size: int,
        seed: int,
        dp_rank: int = 0,
        dp: int = 1,
        num_workers: int = 0,
    ):
        if isinstance(data, torch.Tensor):
            data = _Rows(data)
        self.data = data
        self.map_style = (
            hasattr(data, "__getitem__") and hasattr(data, "__len__") and not isinstance(data, DataLoader)
        )
        self.batch_size, self.seed, self.dp_rank, self.dp = batch_size, seed, dp_rank, dp
        self.num_workers = num_workers
        self.epoch, self.batch = 0, 0  # position: batches consumed within the epoch
        self._it: Iterator | None = None
        if self.map_style:
            if batch_size % dp:
                raise ConfigError(
                    f"batch_size {batch_size} (global) is not divisible by the {dp} data-parallel ranks; "
                    f"pick a multiple of {dp}"
                )
            if len(data) < batch_size:
                raise ConfigError(
                    f"the dataset has {len(data)} samples, fewer than one batch of {batch_size}; "
                    f"lower batch_size or add data"
                )
        elif not isinstance(data, Iterable):
            raise ConfigError(
                f"training data must be a dataset (len + getitem), a tensor or an iterable of batches, "
                f"got {type(data).__name__}"
            )

    def _open(self) -> Iterator:
        if not self.map_style:
            return iter(self.data)
        sampler = _GlobalBatchSampler(
            len(self.data), batch_size=self.batch_size, dp_rank=self.dp_rank, dp=self.dp,
            seed=self.seed, epoch=self.epoch, start=self.batch,
        )  # fmt: skip
        loader = DataLoader(
            self.data, batch_sampler=sampler, num_workers=self.num_workers, collate_fn=default_collate,
            # Its own generator: a DataLoader iterator otherwise draws its worker seed from the global
            # RNG, which would make the global RNG depend on when the iterator was (re)opened.
            generator=torch.Generator().manual_seed(self.seed + self.epoch),
        )  # fmt: skip
        return iter(loader)

    def __iter__(self) -> BatchStream:
        return self

    def __next__(self) -> Any:
        if self._it is None:
            self._it = self._open()
        try:
            item = next(self._it)
        except StopIteration:
            self.epoch, self.batch = self.epoch + 1, 0
            self._it = self._open()
            try:
                item = next(self._it)
            except StopIteration:
                raise ConfigError(
                    "the training data yielded no batch at all; is the iterable empty?"
                ) from None
        self.batch += 1
        return item

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"epoch": self.epoch, "batch": self.batch}
        if not self.map_style and hasattr(self.data, "state_dict"):
            state["inner"] = self.data.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.batch = int(state["epoch"]), int(state["batch"])
        self._it = None
        if self.map_style:
            return
        if "inner" in state and hasattr(self.data, "load_state_dict"):
            self.data.load_state_dict(state["inner"])
            return
        # Replay: a plain iterable has no position, so skip what the saved run consumed.
        self._it = iter(self.data)
        for _ in range(self.batch):
            try:
                next(self._it)
            except StopIteration:
                self._it = iter(self.data)


class _Rows(Dataset):
    """A tensor as a dataset of its rows (dim 0)."""

    def __init__(self, t: torch.Tensor):
        self.t = t

    def __len__(self) -> int:
        return self.t.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.t[i]


__all__ = ["BatchStream", "TensorDataset"]
