"""Forecasts kept between re-plans.

A fit reads only the hours before the current one (:func:`~balancer.credit.forecast.fit_all`), so every re-plan
in an hour refits the same history: :func:`fitted` keeps the last :data:`KEPT` fits of a config's routes, keyed by
the hour and a digest of exactly every route's past hours' counts (the routes' weekly seasons are read together),
so a late count booked into any route's past hour refits them. Histories with no past hour are fitted each time
(they read the current hour's traffic, and cost nothing).
"""

from __future__ import annotations

import hashlib
import threading
from array import array
from collections import OrderedDict
from collections.abc import Mapping

from balancer.credit.forecast import Forecast, H, fit_all

KEPT = 16  # fits kept (the current and the last hour, with room for several configs)

_kept: OrderedDict[tuple[int, bytes], dict[str, Forecast]] = OrderedDict()
_lock = threading.Lock()  # re-plans run in worker threads


def fitted(traffics: Mapping[str, Mapping[int, int]], now: float) -> dict[str, Forecast]:
    """``fit_all(traffics, now)`` (route -> hour -> tokens), from the fits kept when the same past hours of the same
    routes were fitted in the same hour. A fresh dict each call: the kept forecasts are shared, never changed."""
    hour = int(now // H)
    digest, seen = hashlib.blake2b(digest_size=16), False
    for route in sorted(traffics):
        past = sorted((h, v) for h, v in traffics[route].items() if h < hour)
        seen = seen or bool(past)
        name = route.encode()
        digest.update(array("q", [len(name), len(past)]).tobytes() + name)
        digest.update(array("q", [x for hv in past for x in hv]).tobytes())
    if not seen:
        return fit_all(traffics, now)
    key = (hour, digest.digest())
    with _lock:
        if key in _kept:
            _kept.move_to_end(key)
            return dict(_kept[key])
    forecasts = fit_all(traffics, now)
    with _lock:
        _kept[key] = forecasts
        while len(_kept) > KEPT:
            _kept.popitem(last=False)
    return dict(forecasts)
