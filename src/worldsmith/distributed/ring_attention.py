"""Ring attention: exact attention over a sequence split across ranks, one key/value block at a time.

Liu, Zaharia & Abbeel, "Ring Attention with Blockwise Transformers for Near-Infinite Context"
(arXiv 2310.01889). Each of the ``n`` ranks keeps its queries; key/value blocks travel around the
ring, and every rank folds each block into its output with the log-sum-exp merge of blockwise
softmax (FlashAttention, Dao et al. 2022, Algorithm 1):

    lse_new = logaddexp(lse, lse_blk),  o <- o * exp(lse - lse_new) + o_blk * exp(lse_blk - lse_new)

Backward recomputes each block's probabilities from the saved ``lse`` (FlashAttention-2,
Algorithm 2): with ``D = rowsum(dO * O)``, ``dS = P * (dO V^T - D)``, ``dQ += dS K * scale``,
``dK = dS^T Q * scale``, ``dV = P^T dO``; the key/value gradients travel the ring with their block
and arrive back at their owner after ``n`` hops. Only two blocks of keys/values are held at a
time, against the whole sequence for the all-gather scheme. Point-to-point sends work on gloo.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def _ring_pass(tensors: list[torch.Tensor], group: dist.ProcessGroup) -> list[torch.Tensor]:
    """Send `tensors` to the next rank of the ring and receive the previous rank's."""
    rank, n = dist.get_rank(group), dist.get_world_size(group)
    nxt, prv = dist.get_global_rank(group, (rank + 1) % n), dist.get_global_rank(group, (rank - 1) % n)
    received = [torch.empty_like(t) for t in tensors]
    ops = [dist.P2POp(dist.isend, t.contiguous(), nxt, group) for t in tensors]
    ops += [dist.P2POp(dist.irecv, r, prv, group) for r in received]
    for req in dist.batch_isend_irecv(ops):
        req.wait()
    return received


def _block_mask(q_start: int, k_start: int, n_q: int, n_k: int, seq_len: int, causal: bool, device):
    """True where query (global position q_start + i) may attend key k_start + j."""
    kpos = torch.arange(n_k, device=device) + k_start
    mask = (kpos < seq_len).expand(n_q, n_k)
    if causal:
        qpos = torch.arange(n_q, device=device) + q_start
        mask = mask & (kpos[None, :] <= qpos[:, None])
    return mask


def _finite(x: torch.Tensor) -> torch.Tensor:
    """-inf (a row with nothing to attend yet) -> 0, so that exp(s - x) stays 0 instead of NaN."""
    return torch.where(torch.isinf(x), torch.zeros_like(x), x)


class RingAttention(torch.autograd.Function):
    """``q, k, v [B, H, Lc, D]`` (this rank's block, heads already matched) -> ``o [B, H, Lc, D]``."""

    @staticmethod
    def forward(ctx, q, k, v, group, seq_len: int, causal: bool, scale: float):
        rank, n = dist.get_rank(group), dist.get_world_size(group)
        Lc = q.shape[2]
        o = torch.zeros_like(q, dtype=torch.float32)
        lse = torch.full(q.shape[:3], float("-inf"), dtype=torch.float32, device=q.device)  # [B, H, Lc]
        kv, src = [k, v], rank
        for step in range(n):
            nxt = _ring_pass(kv, group) if step < n - 1 else None
            mask = _block_mask(rank * Lc, src * Lc, Lc, Lc, seq_len, causal, q.device)
            if mask.any():
                s = (q.float() @ kv[0].float().transpose(-1, -2)) * scale  # [B, H, Lc, Lc]
                s = s.masked_fill(~mask, float("-inf"))
                lse_blk = torch.logsumexp(s, dim=-1)  # [B, H, Lc]
                o_blk = torch.exp(s - _finite(lse_blk)[..., None]) @ kv[1].float()
                lse_new = torch.logaddexp(lse, lse_blk)
                safe = _finite(lse_new)
                o = o * torch.exp(lse - safe)[..., None] + o_blk * torch.exp(lse_blk - safe)[..., None]
                lse = lse_new
            if nxt is not None:
                kv, src = nxt, (src - 1) % n
        ctx.save_for_backward(q, k, v, o, lse)
        ctx.group, ctx.seq_len, ctx.causal, ctx.scale = group, seq_len, causal, scale
        return o.to(q.dtype)

    @staticmethod
    def backward(ctx, do):
        q, k, v, o, lse = ctx.saved_tensors
        group, scale = ctx.group, ctx.scale
        rank, n = dist.get_rank(group), dist.get_world_size(group)
        Lc = q.shape[2]
        qf, do = q.float(), do.float()
        delta = (do * o).sum(-1, keepdim=True)  # D = rowsum(dO * O)   [B, H, Lc, 1]
        dq = torch.zeros_like(qf)
        kv = [k, v]
        dkv = [torch.zeros_like(k, dtype=torch.float32), torch.zeros_like(v, dtype=torch.float32)]
        src = rank
        for step in range(n):
            mask = _block_mask(rank * Lc, src * Lc, Lc, Lc, ctx.seq_len, ctx.causal, q.device)
            if mask.any():
                kf, vf = kv[0].float(), kv[1].float()
                s = (qf @ kf.transpose(-1, -2)) * scale
                p = torch.exp(s.masked_fill(~mask, float("-inf")) - _finite(lse)[..., None])  # [B, H, Lc, Lc]
                dkv[1] = dkv[1] + p.transpose(-1, -2) @ do  # dV
                ds = p * (do @ vf.transpose(-1, -2) - delta)
                dq = dq + (ds @ kf) * scale
                dkv[0] = dkv[0] + (ds.transpose(-1, -2) @ qf) * scale  # dK
            # The gradients travel with their block; after n hops they are back at the owner.
            if step < n - 1:
                kv_dkv = _ring_pass([*kv, *dkv], group)
                kv, dkv = kv_dkv[:2], kv_dkv[2:]
            else:
                dkv = _ring_pass(dkv, group)
            src = (src - 1) % n
        return dq.to(q.dtype), dkv[0].to(k.dtype), dkv[1].to(v.dtype), None, None, None, None
