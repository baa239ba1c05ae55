"""Semantic de-duplication (SemDeDup, Abbas et al. 2023, as in Cosmos' curation).

k-means over clip embeddings (faiss when installed, else a small numpy Lloyd loop); inside each
cluster, clips are visited best first (captioned, longer, larger, sharper) and a clip whose cosine
similarity to an already kept clip exceeds `threshold` is dropped as its duplicate. Cosmos drops pairs with
``1 - cos < 0.01``; our default perceptual embedding is coarser, so the default threshold is 0.98.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from worldsmith.config import check
from worldsmith.curate.tasks import ClipTask


@dataclass(frozen=True, kw_only=True)
class DedupConfig:
    enabled: bool = True
    threshold: float = 0.98  # cosine similarity above which two clips are duplicates
    clusters: int = 0  # 0: about one cluster per 50 clips
    seed: int = 0

    def __post_init__(self) -> None:
        check(-1.0 <= self.threshold <= 1.0, "dedup.threshold", self.threshold, "must be in [-1, 1]")
        check(self.clusters >= 0, "dedup.clusters", self.clusters, "must be >= 0")


def kmeans(x: np.ndarray, k: int, seed: int = 0, iters: int = 20) -> np.ndarray:
    """Cluster labels [N] of float32 rows `x` [N, D] into `k` clusters."""
    if k <= 1 or len(x) <= k:
        return np.zeros(len(x), dtype=np.int64) if k <= 1 else np.arange(len(x))
    try:
        import faiss

        km = faiss.Kmeans(x.shape[1], k, niter=iters, seed=seed, verbose=False)
        km.train(np.ascontiguousarray(x, dtype=np.float32))
        return km.index.search(np.ascontiguousarray(x, dtype=np.float32), 1)[1][:, 0].astype(np.int64)
    except ImportError:
        rng = np.random.default_rng(seed)
        centres = x[rng.choice(len(x), k, replace=False)]
        for _ in range(iters):
            labels = ((x[:, None, :] - centres[None]) ** 2).sum(-1).argmin(1)
            for j in range(k):
                if (labels == j).any():
                    centres[j] = x[labels == j].mean(0)
        return labels


def _rank(clip: ClipTask) -> tuple:
    """Best first: captioned, longer, larger, sharper; the clip id breaks ties."""
    size = clip.width * clip.height
    return (
        not clip.caption_source,
        -clip.num_frames,
        -size,
        -clip.scores.get("sharpness", 0.0),
        clip.clip_id,
    )


def semdedup(clips: list[ClipTask], config: DedupConfig | None = None) -> list[list[str]]:
    """Mark duplicates among kept clips with embeddings (in place); return the duplicate groups
    as lists of clip ids, the kept clip first."""
    c = config or DedupConfig()
    pool = [clip for clip in clips if clip.kept and clip.embedding]
    if not c.enabled or len(pool) < 2:
        return []
    x = np.array([clip.embedding for clip in pool], dtype=np.float32)  # [N, D]
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-8)
    k = c.clusters or max(1, len(pool) // 50)
    labels = kmeans(x, k, c.seed)
    groups: dict[str, list[str]] = {}
    for label in np.unique(labels):
        members = [i for i in np.flatnonzero(labels == label)]
        members.sort(key=lambda i: _rank(pool[i]))
        kept: list[int] = []
        for i in members:
            sims = x[kept] @ x[i] if kept else np.empty(0)
            if len(sims) and sims.max() > c.threshold:
                j = kept[int(sims.argmax())]
                pool[i].duplicate_of = pool[j].clip_id
                pool[i].drop("dedup", f"cosine {sims.max():.4f} > {c.threshold} with {pool[j].clip_id}")
                groups.setdefault(pool[j].clip_id, [pool[j].clip_id]).append(pool[i].clip_id)
            else:
                kept.append(i)
    return [groups[key] for key in sorted(groups)]
