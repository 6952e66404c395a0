"""GPU utilisation sampled while a run trains, so a slow sweep shows whether the GPU waited.

A thread asks the driver (``torch.cuda.utilization``, through NVIDIA's management library
``pynvml``) every :data:`INTERVAL_S` seconds what share of the last sample period a kernel ran
on the run's GPU. Off CUDA, or without the management library, nothing is sampled and the run
records no utilisation at all: an absent figure, never an invented one.
"""

from __future__ import annotations

import statistics
import threading

import torch

INTERVAL_S = 0.5


class GpuUsage:
    """Samples one device's utilisation (percent) from :meth:`start` to :meth:`stop`.

    Example::

        usage = GpuUsage(device)
        usage.start(); train(); print(usage.stop())  # {"gpu_utilization": 83.0, ...} or {}
    """

    def __init__(self, device: torch.device, interval_s: float = INTERVAL_S) -> None:
        self.device = device
        self.interval_s = interval_s
        self.samples: list[float] = []
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self.available = device.type == "cuda" and _readable(device)

    def start(self) -> None:
        self.samples, self._done = [], threading.Event()
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        if self.available:
            self._thread = threading.Thread(target=self._sample, daemon=True,
                                            name="medselect-gpu-usage")
            self._thread.start()

    def stop(self) -> dict[str, float]:
        """The period's peak memory (``gpu_memory_peak_mb``) and mean utilisation
        (``gpu_utilization``, percent, where the driver tells); ``{}`` off CUDA."""
        if self.device.type != "cuda":
            return {}
        if self._thread is not None:
            self._done.set()
            self._thread.join()
            self._thread = None
        figures = {"gpu_memory_peak_mb": torch.cuda.max_memory_allocated(self.device) / 2**20}
        if self.samples:
            figures["gpu_utilization"] = statistics.fmean(self.samples)
        return figures

    def _sample(self) -> None:
        while not self._done.wait(self.interval_s):
            self.samples.append(float(torch.cuda.utilization(self.device)))


def _readable(device: torch.device) -> bool:
    try:
        torch.cuda.utilization(device)
    except Exception:  # no pynvml / amdsmi, or a driver that refuses: the figure stays absent
        return False
    return True
