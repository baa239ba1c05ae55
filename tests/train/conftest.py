"""One intra-op thread: the 2-core test machine is shared, and spinning OpenMP threads of
concurrent processes slow tiny models by 50x."""

import torch

torch.set_num_threads(1)
