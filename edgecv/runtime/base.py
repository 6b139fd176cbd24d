"""The Runner interface every backend implements (after Polygraphy's runners)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType

import numpy as np


class Runner(ABC):
    """Load a model once, run float32 NCHW batches through it, release it. Usable as a context manager."""

    backend: str = "?"
    threads: int | None = None

    @abstractmethod
    def infer_all(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Run one batch and return every output by name, in the model's output order (as Polygraphy does)."""

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Run one batch and return the first output (the logits of a classifier)."""
        return next(iter(self.infer_all(batch).values()))

    def close(self) -> None:  # noqa: B027 - optional for backends with nothing to free
        """Free what the runner holds."""

    def __enter__(self) -> Runner:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
