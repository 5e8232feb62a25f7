"""The weighted displacement difference test (Wheeler & Ratcliffe 2018, Crime Science 7:11).

With counts before/after in the treated area (T0, T1), its control (C0, C1), the treated
displacement buffer (D0, D1) and the control buffer (E0, E1):
local = (T1 - T0) - (C1 - C0), variance T0 + T1 + C0 + C1; displacement likewise on D, E;
total = local + displacement. Unequal windows: each count is divided by its window length
and its variance by the length squared. Worked example from the paper: T 24 -> 12 with C
24 -> 24 gives -12, SE 9.17, z -1.31, 90% CI -27.1 to +3.1.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from scipy.stats import norm

Z90 = float(norm.ppf(0.95))  # two-sided 90% interval
#: Counts above this are not incident counts (Kansas City records a few thousand violent crimes a year); window
#: lengths outside LENGTHS would over- or underflow the variance (count / length squared).
MAX_COUNT = 1e9
LENGTHS = (1e-6, 1e6)
PAIRS = ("treated", "control", "buffer", "buffer control")


class BadInput(ValueError):
    """A count or window length the test cannot use, or counts that leave it undefined; the message names which."""


@dataclass(frozen=True)
class Estimate:
    """One part of the test: estimate (per unit of window length), standard error, z, two-sided p and the 90%
    interval the paper reports; z and p are None when the variance is 0 (see require_variance)."""
    estimate: float
    se: float
    z: float | None
    p: float | None
    ci90: tuple[float, float]


def _estimate(est: float, var: float) -> Estimate:
    se = math.sqrt(var)
    if se == 0:
        return Estimate(est, 0.0, None, None, (est, est))
    z = est / se
    return Estimate(est, se, z, float(2 * norm.sf(abs(z))), (est - Z90 * se, est + Z90 * se))


def check_inputs(treated: tuple[float, float], control: tuple[float, float], buffer: tuple[float, float] | None = None,
                 buffer_control: tuple[float, float] | None = None, before_len: float = 1.0,
                 after_len: float = 1.0) -> None:
    """Raise BadInput naming the first value that is not a usable count or window length.

    Counts must be finite, 0 or more and at most MAX_COUNT; lengths finite and within LENGTHS; the buffers come
    as a pair or not at all.
    """
    if (buffer is None) != (buffer_control is None):
        raise BadInput("the displacement test needs both the buffer and the buffer control counts, or neither")
    given = [(name, pair) for name, pair in zip(PAIRS, (treated, control, buffer, buffer_control), strict=True)
             if pair is not None]
    for name, pair in given:
        for when, value in zip(("before", "after"), pair, strict=True):
            if not math.isfinite(value) or not 0 <= value <= MAX_COUNT:
                raise BadInput(f"{name} {when} count {value:g} is not a count: it must be a number from 0 to "
                               f"{MAX_COUNT:,.0f}")
    for when, value in (("before", before_len), ("after", after_len)):
        if not math.isfinite(value) or not LENGTHS[0] <= value <= LENGTHS[1]:
            raise BadInput(f"{when} window length {value:g} is not a length: it must be a number from "
                           f"{LENGTHS[0]:g} to {LENGTHS[1]:g}")


def require_variance(result: dict) -> dict:
    """The result of `wdd`, or BadInput when a part has zero variance (all its counts are 0): its z, p-value and
    interval would be undefined, and an estimate of 0 with no uncertainty is not a finding."""
    for part, counts in (("local", "treated and control"), ("displacement", "buffer and buffer control")):
        if part in result and result[part].z is None:
            raise BadInput(f"the {part} test is undefined: the {counts} counts are all 0 (zero variance)")
    return result


def wdd(treated: tuple[float, float], control: tuple[float, float], buffer: tuple[float, float] | None = None,
        buffer_control: tuple[float, float] | None = None, before_len: float = 1.0, after_len: float = 1.0) -> dict:
    """Local, displacement and total estimates. Pairs are (before, after) counts.

    Raises BadInput for values `check_inputs` refuses. A part whose counts are all 0 comes back with z, p None
    (see `require_variance`).
    """
    check_inputs(treated, control, buffer, buffer_control, before_len, after_len)
    def part(a, b):
        (a0, a1), (b0, b1) = a, b
        est = (a1 / after_len - a0 / before_len) - (b1 / after_len - b0 / before_len)
        var = (a0 + b0) / before_len**2 + (a1 + b1) / after_len**2
        return est, var

    local_est, local_var = part(treated, control)
    out = {"local": _estimate(local_est, local_var)}
    if buffer is not None and buffer_control is not None:
        disp_est, disp_var = part(buffer, buffer_control)
        out["displacement"] = _estimate(disp_est, disp_var)
        out["total"] = _estimate(local_est + disp_est, local_var + disp_var)
    return out


def as_dict(result: dict) -> dict:
    """The result as plain dicts, the interval as a list: the form JSON output and the pages use."""
    return {k: {**asdict(v), "ci90": list(v.ci90)} for k, v in result.items()}


def minimum_detectable_drop(t0: float, c0: float, c1: float | None = None, before_len: float = 1.0,
                            after_len: float = 1.0, z: float = Z90) -> float | None:
    """Smallest share drop in the treated count (0-1) the local WDD could tell from noise, or None.

    Assumes the control stays where it is (c1 = c0 per unit time unless given).
    """
    if t0 <= 0:
        return None
    c1 = c0 * after_len / before_len if c1 is None else c1

    def zval(x: float) -> float:
        t1 = t0 * (1 - x) * after_len / before_len
        est = wdd((t0, t1), (c0, c1), before_len=before_len, after_len=after_len)["local"]
        return est.z if est.z is not None else 0.0

    if zval(1.0) > -z:
        return None
    lo, hi = 0.0, 1.0
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if zval(mid) <= -z else (mid, hi)
    return hi
