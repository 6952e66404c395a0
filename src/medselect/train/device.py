"""Where a run computes and how reproducibly: device choice, mixed precision, seeds, threads.

Mixed precision (float16 autocast with a gradient scaler) is used on CUDA only; on CPU both
are switched off, so the same loop code runs everywhere.
"""

from __future__ import annotations

import contextlib

import torch
from monai.utils import set_determinism

from medselect.errors import ConfigError


def select_device(requested: str | None = None) -> torch.device:
    """``requested`` (``cpu``, ``cuda``, ``cuda:N``), or CUDA when present and CPU otherwise.

    Raises:
        ConfigError: a CUDA device is asked for but CUDA is not available, or the name is bad.
    """
    if requested is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except RuntimeError as exc:
        raise ConfigError(f"device: {requested!r} is not a device name ({exc})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device: {requested!r} was asked for but CUDA is not available here")
    return device


def uses_mixed_precision(device: torch.device) -> bool:
    return device.type == "cuda"


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """float16 autocast on CUDA, a no-op elsewhere."""
    if uses_mixed_precision(device):
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def grad_scaler(device: torch.device) -> torch.amp.GradScaler:
    """A loss scaler for float16 gradients, disabled (a pass-through) off CUDA."""
    return torch.amp.GradScaler(device.type, enabled=uses_mixed_precision(device))


def seed_everything(seed: int, *, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (MONAI's ``set_determinism``).

    Args:
        deterministic: also ask torch for deterministic kernels (warning where none exists)
            and turn off cuDNN auto-tuning; slower on GPU, bit-identical reruns.
    """
    set_determinism(seed=seed)
    if torch.are_deterministic_algorithms_enabled() != deterministic:
        # only on a change: the call imports torch's compiler stack (seconds)
        torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic


def limit_threads(threads: int | None) -> None:
    """Cap torch's intra-op CPU threads (a sweep worker's share of the cores); None leaves it."""
    if threads is not None:
        if threads < 1:
            raise ConfigError(f"threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)
