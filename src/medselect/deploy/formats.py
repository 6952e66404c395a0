"""A loaded network in the formats deployment stacks run, each checked against PyTorch.

TorchScript (``torch.jit.trace``) is what MONAI bundles and LibTorch load; ONNX (the
TorchScript-based exporter, opset :data:`OPSET`, batch axis dynamic) is what ONNX Runtime,
TensorRT and most inference servers load. Both take the network's input: ``(batch, channels,
*input_size)`` intensities already normalised and resized as medselect does, and give its
logits. A trace or an ONNX graph can silently compute something else (a branch frozen by the
trace, an operator translated differently), so each is run on a fresh input the export did not
see and refused with :class:`~medselect.errors.ExportError` when its output differs from the
network's by more than :data:`TOLERANCE`.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch

from medselect.errors import ExportError
from medselect.store import atomic_write_bytes

__all__ = ["OPSET", "TOLERANCE", "example_input", "save_onnx", "trace"]

TOLERANCE = 1e-4
"""Largest absolute difference allowed between an exported model's logits and PyTorch's."""
OPSET = 17


def example_input(channels: int, size: tuple[int, ...], batch: int = 1,
                  seed: int = 0) -> torch.Tensor:
    """A reproducible standard-normal input of the network's shape (z-scored intensities)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn((batch, channels, *size), generator=generator)


@torch.no_grad()
def trace(network: torch.nn.Module, example: torch.Tensor) -> tuple[torch.jit.ScriptModule, float]:
    """The TorchScript trace of ``network`` and its largest difference from it on a new input.

    Raises:
        ExportError: the network cannot be traced, or its trace computes something else.
    """
    with warnings.catch_warnings():  # torch deprecates jit.trace, which MONAI bundles still use
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        try:
            traced = torch.jit.trace(network.eval(), example, check_trace=False)
        except (RuntimeError, ValueError, TypeError) as exc:
            raise ExportError(f"the network cannot be traced to TorchScript ({_first(exc)})"
                              ) from exc
    fresh = _fresh(example)
    return traced, _checked("TorchScript", network(fresh), traced(fresh))


def save_torchscript(traced: torch.jit.ScriptModule, path: Path) -> Path:
    """Write a traced network to ``path`` atomically."""
    buffer = io.BytesIO()
    torch.jit.save(traced, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


@torch.no_grad()
def save_onnx(network: torch.nn.Module, example: torch.Tensor, path: Path) -> float:
    """Write ``network`` as ONNX to ``path``; return its largest difference from PyTorch on a
    new input of batch size 2, run by ONNX Runtime.

    Raises:
        ExportError: ``onnx`` or ``onnxruntime`` is missing, the network cannot be exported,
            or ONNX Runtime computes something else.
    """
    try:
        import onnx  # noqa: F401  (the exporter needs it)
        import onnxruntime
    except ImportError as exc:
        raise ExportError(f"`format=` onnx needs the {exc.name} package: pip install "
                          "'medselect[export]'") from None
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=UserWarning)  # instance-norm training mode
        try:
            torch.onnx.export(network.eval(), (example,), buffer, dynamo=False,
                              opset_version=OPSET, input_names=["image"],
                              output_names=["logits"],
                              dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
        except (RuntimeError, ValueError, TypeError) as exc:
            raise ExportError(f"the network cannot be exported to ONNX ({_first(exc)})") from exc
    atomic_write_bytes(path, buffer.getvalue())
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    fresh = _fresh(example, batch=2)
    [logits] = session.run(None, {"image": fresh.numpy()})
    return _checked("ONNX Runtime", network(fresh), torch.from_numpy(logits))


def _fresh(example: torch.Tensor, batch: int | None = None) -> torch.Tensor:
    """An input like ``example`` that the export did not see."""
    shape = example.shape if batch is None else (batch, *example.shape[1:])
    generator = torch.Generator().manual_seed(1)
    return torch.randn(shape, generator=generator).to(example.device)


def _checked(what: str, expected: torch.Tensor, got: torch.Tensor) -> float:
    expected, got = _array(expected), _array(got)
    if expected.shape != got.shape:
        raise ExportError(f"the {what} model outputs shape {got.shape}, the network "
                          f"{expected.shape}; the export is not usable")
    difference = float(np.max(np.abs(expected - got))) if expected.size else 0.0
    if not difference <= TOLERANCE:
        raise ExportError(f"the {what} model's logits differ from PyTorch's by up to "
                          f"{difference:.3g} (more than {TOLERANCE:g}) on the same input; the "
                          "network holds an operation that does not export faithfully")
    return difference


def _array(output: torch.Tensor) -> np.ndarray:
    return torch.as_tensor(output).detach().float().cpu().numpy()


def _first(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0]
