"""``History``: named metrics recorded per step or per epoch, as plain lists of floats.

Introduced in notebooks 03-05 (the loss printed every epoch becomes a curve that ``viz.plot_losses``
draws); ``train.fit`` returns one (notebook 08) and a checkpoint stores its ``to_dict()``.
It imports nothing from the rest of mnistlab: anything may record or read a history.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

__all__ = ["History"]


class History:
    """Named metrics recorded per step or per epoch, as plain lists of floats.

    >>> h = History(); h.log(loss=2.0, acc=0.5); h.log(loss=1.0); h["loss"]
    [2.0, 1.0]
    """

    def __init__(self, metrics: Mapping[str, Iterable[float]] | None = None) -> None:
        self.metrics: dict[str, list[float]] = {}
        for name, values in (metrics or {}).items():
            self.metrics[str(name)] = [self._check(name, v) for v in values]

    @staticmethod
    def _check(name: str, value: object) -> float:
        try:
            number = float(value)  # accepts Python numbers and one-element tensors
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(f"metric {name!r} must be a number, got {type(value).__name__}: {value!r}") from exc
        if math.isnan(number):
            raise ValueError(f"metric {name!r} is NaN: training has diverged (lower the learning rate?)")
        return number

    def log(self, **values: float) -> None:
        """Append one value to each named metric (names may differ from call to call)."""
        if not values:
            raise ValueError("log() needs at least one metric, e.g. log(loss=0.3)")
        for name, value in values.items():
            self.metrics.setdefault(name, []).append(self._check(name, value))

    def __getitem__(self, name: str) -> list[float]:
        if name not in self.metrics:
            raise KeyError(f"no metric {name!r}; recorded: {sorted(self.metrics) or 'none yet'}")
        return self.metrics[name]

    def __contains__(self, name: object) -> bool:
        return name in self.metrics

    def __len__(self) -> int:
        return max((len(v) for v in self.metrics.values()), default=0)

    def last(self, name: str) -> float:
        """The latest value of ``name``."""
        values = self[name]
        if not values:
            raise KeyError(f"metric {name!r} has no values yet")
        return values[-1]

    def best(self, name: str, mode: str = "max") -> tuple[int, float]:
        """``(index, value)`` of the best value of ``name``: ``mode`` is ``"max"`` or ``"min"``."""
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        values = self[name]
        if not values:
            raise KeyError(f"metric {name!r} has no values yet")
        pick = max if mode == "max" else min
        index = pick(range(len(values)), key=values.__getitem__)
        return index, values[index]

    def to_dict(self) -> dict[str, list[float]]:
        """A copy as a dict of float lists (what a checkpoint stores)."""
        return {name: list(values) for name, values in self.metrics.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Iterable[float]]) -> History:
        """Rebuild from ``to_dict()``'s output."""
        return cls(data)

    def __repr__(self) -> str:
        parts = ", ".join(f"{name}: {len(values)}" for name, values in self.metrics.items())
        return f"History({parts})"
