r"""Step-size and accuracy schedules of ISGD (paper, Algorithm 1; DESIGN.md "Algorithms").

Each schedule is a tiny frozen dataclass, called with the iteration ``k = 0, 1, ...``:

=================  ===========================================  ========================================
name               value at ``k``                               remarks
=================  ===========================================  ========================================
``constant``       ``a0``                                       Theorem 1's constant step / accuracy
``inverse_sqrt``   ``a0 / sqrt(k + 1)``                         the paper's "decreasing" step (Fig. 1)
``polynomial``     ``a0 / (k + 1)^q``                           ``q >= 0``; squares summable iff ``q > 1/2``
``geometric``      ``a0 rho^k``                                 ``0 < rho < 1``: summable
=================  ===========================================  ========================================

Remark 2 of the paper asks for a deterministic accuracy sequence with ``sum_t eps_t^2 < inf``;
:attr:`Schedule.square_summable` says whether a schedule has that property.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

SCHEDULES = ("constant", "inverse_sqrt", "polynomial", "geometric")


@dataclass(frozen=True)
class Schedule:
    """``a_k`` of the module table; ``power`` is ``q`` (polynomial), ``rate`` is ``rho`` (geometric)."""

    kind: str
    a0: float
    power: float = 0.0
    rate: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.kind!r}; use one of {SCHEDULES}")
        if not (isinstance(self.a0, (int, float)) and math.isfinite(self.a0) and self.a0 > 0):
            raise ValueError(f"the initial value of a schedule must be positive and finite, got {self.a0!r}")
        if self.kind == "polynomial" and not (math.isfinite(self.power) and self.power >= 0):
            raise ValueError(f"polynomial schedules need a power q >= 0, got {self.power}")
        if self.kind == "geometric" and not 0 < self.rate < 1:
            raise ValueError(f"geometric schedules need a rate in (0, 1), got {self.rate}")

    def __call__(self, k: int) -> float:
        if k < 0:
            raise ValueError(f"iteration index must be >= 0, got {k}")
        if self.kind == "constant":
            return float(self.a0)
        if self.kind == "inverse_sqrt":
            return self.a0 / math.sqrt(k + 1)
        if self.kind == "polynomial":
            return self.a0 / (k + 1) ** self.power
        return self.a0 * self.rate**k

    @property
    def square_summable(self) -> bool:
        """Whether ``sum_k a_k^2 < inf``."""
        return self.kind == "geometric" or (self.kind == "polynomial" and self.power > 0.5)

    def as_dict(self) -> dict:
        return asdict(self)


def constant(a0: float) -> Schedule:
    return Schedule("constant", a0)


def inverse_sqrt(a0: float) -> Schedule:
    return Schedule("inverse_sqrt", a0)


def polynomial(a0: float, power: float) -> Schedule:
    return Schedule("polynomial", a0, power=power)


def geometric(a0: float, rate: float) -> Schedule:
    return Schedule("geometric", a0, rate=rate)
