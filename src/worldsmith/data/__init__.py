"""Readers of curated data: webdataset shards from `worldsmith curate` into training batches.

from worldsmith.data import ClipDataset, bucketed_batches
ds = ClipDataset("runs/curated/shards", frames=17, size=(64, 96))
for batch in bucketed_batches(ds, batch_size=4):
    batch["video"]    # float [B, C, T, H, W] in [-1, 1]
    batch["caption"]  # list of B strings
"""

from worldsmith.data.shards import ClipDataset, DataError, bucketed_batches, find_shards, iter_samples

__all__ = ["ClipDataset", "DataError", "bucketed_batches", "find_shards", "iter_samples"]
