"""Forecasts kept between re-plans.

A fit reads only the hours before the current one (:func:`~balancer.credit.forecast.fit`), so every re-plan in
an hour refits the same history: :func:`fitted` keeps the last :data:`KEPT` fits, keyed by the hour and a digest
of exactly the past hours' counts, so a late count booked into a past hour refits. A history with no past hour
is fitted each time (it reads the current hour's traffic, and costs nothing).
"""

from __future__ import annotations

import hashlib
import threading
from array import array
from collections import OrderedDict
from collections.abc import Mapping

from balancer.credit.forecast import Forecast, H, fit

KEPT = 64  # fits kept (a few routes × the current and the last hour, with room for several configs)

_kept: OrderedDict[tuple[int, bytes], Forecast] = OrderedDict()
_lock = threading.Lock()  # re-plans run in worker threads


def fitted(traffic: Mapping[int, int], now: float) -> Forecast:
    """``fit(traffic, now)``, from the fits kept when the same past hours were fitted in the same hour."""
    hour = int(now // H)
    past = sorted((h, v) for h, v in traffic.items() if h < hour)
    if not past:
        return fit(traffic, now)
    key = (hour, hashlib.blake2b(array("q", [x for hv in past for x in hv]).tobytes(), digest_size=16).digest())
    with _lock:
        if key in _kept:
            _kept.move_to_end(key)
            return _kept[key]
    forecast = fit(traffic, now)
    with _lock:
        _kept[key] = forecast
        while len(_kept) > KEPT:
            _kept.popitem(last=False)
    return forecast
