"""How batches reach the network: in the training process on CPU, ahead of it on CUDA.

On CPU the network and the data share the same cores, so batches are made in the training
process (no worker processes to start every epoch). On CUDA the GPU would wait for the CPU, so
``workers`` processes augment and collate batches ahead of it (``prefetch_factor`` batches
each) into pinned (page-locked) memory, from which ``non_blocking`` copies overlap with the
computation. Each worker reseeds the augmentation from its own seed (MONAI's
``worker_init_fn``), which the epoch's generator fixes, so a run stays reproducible.
"""

from __future__ import annotations

import torch
from monai.data.utils import worker_init_fn
from torch.utils.data import DataLoader, Dataset

#: Batches each CUDA loader worker prepares ahead of the network.
PREFETCH_BATCHES = 4
#: Loader workers on CUDA when the caller gives no number.
CUDA_WORKERS = 4


def loader_workers(device: torch.device, requested: int | None = None) -> int:
    """The loader worker processes for ``device``: ``requested``, else none on CPU and
    :data:`CUDA_WORKERS` on CUDA."""
    if requested is not None:
        if requested < 0:
            raise ValueError(f"loader workers must be >= 0, got {requested}")
        return requested
    return CUDA_WORKERS if device.type == "cuda" else 0


def make_loader(dataset: Dataset, *, batch_size: int, device: torch.device, workers: int,
                shuffle_seed: int | None = None) -> DataLoader:
    """A loader of ``dataset`` for ``device`` with ``workers`` worker processes, shuffled by a
    generator seeded with ``shuffle_seed`` (None: in order)."""
    options = {"num_workers": workers, "pin_memory": device.type == "cuda"}
    if workers:
        options |= {"prefetch_factor": PREFETCH_BATCHES, "worker_init_fn": worker_init_fn}
    generator = None if shuffle_seed is None else torch.Generator().manual_seed(shuffle_seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle_seed is not None,
                      generator=generator, **options)
