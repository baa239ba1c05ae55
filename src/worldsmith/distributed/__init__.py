"""Parallelism kept apart from models: `ParallelDims` meshes, `parallelize` (CP -> AC -> compile ->
FSDP2), context-parallel attention and sharded checkpoints. Models never import `torch.distributed`."""
