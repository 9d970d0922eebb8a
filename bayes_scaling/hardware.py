"""Wall-clock time of a training run on given hardware (DESIGN.md, "Plan").

A step of batch B tokens costs 6 N B FLOPs (Kaplan et al. 2020, arXiv 2001.08361) and
is spread over the devices that have work: each needs at least ``min_device_batch``
tokens, so a batch B keeps at most B / min_device_batch of them busy. Hence

    time = (D / B) steps x 6 N B / (devices_used x peak FLOP/s x MFU)
         = 6 N D / (devices_used x peak FLOP/s x MFU).

At a fixed device count, a batch large enough to use every device makes time
proportional to compute; a deadline then forces either less compute or a batch
large enough to use more devices, the trade-off of Power Lines (Bergsma et al. 2025).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .defaults import pick
from .errors import UsageError

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class Hardware:
    """The machine a run trains on."""

    devices: int
    device_flops: float  # peak FLOP/s per device (e.g. 9.89e14 for an H100's dense bf16)
    mfu: float | None = None  # model FLOPs utilisation, 0 < mfu <= 1; None: the defaults table's
    min_device_batch: float | None = None  # fewest tokens per device per step; None: the defaults table's

    def __post_init__(self) -> None:
        object.__setattr__(self, "mfu", float(pick("mfu", self.mfu)))
        object.__setattr__(self, "min_device_batch", float(pick("min_device_batch", self.min_device_batch)))
        if not (isinstance(self.devices, (int, np.integer)) and self.devices >= 1):
            raise UsageError(f"devices must be a whole number >= 1, got {self.devices!r}")
        if not (math.isfinite(self.device_flops) and self.device_flops > 0):
            raise UsageError(f"device FLOP/s must be finite and > 0, got {self.device_flops!r}")
        if not 0 < self.mfu <= 1:
            raise UsageError(f"MFU must be in (0, 1], got {self.mfu!r}")
        if not (math.isfinite(self.min_device_batch) and self.min_device_batch > 0):
            raise UsageError(f"minimum tokens per device must be finite and > 0, got {self.min_device_batch!r}")

    def devices_used(self, B: np.ndarray | float) -> np.ndarray:
        """Devices a batch of B tokens keeps busy: floor(B / min_device_batch), between 1 and all."""
        return np.clip(np.floor(np.asarray(B, dtype=float) / self.min_device_batch), 1, self.devices)

    def flops_per_second(self, B: np.ndarray | float) -> np.ndarray:
        """Sustained model FLOP/s at batch B."""
        return self.devices_used(B) * self.device_flops * self.mfu

    def hours(self, N: np.ndarray | float, D: np.ndarray | float, B: np.ndarray | float) -> np.ndarray:
        """Training time in hours of N parameters on D tokens at batch B."""
        return 6.0 * np.asarray(N, dtype=float) * np.asarray(D, dtype=float) / self.flops_per_second(B) / SECONDS_PER_HOUR

    def describe(self) -> str:
        """One line for the screen and plan.json."""
        return (
            f"{self.devices} devices x {self.device_flops:.3g} FLOP/s x MFU {self.mfu:g}, "
            f">= {self.min_device_batch:g} tokens per device per step"
        )
