"""Write the hourly demand series that ``bench/scenarios/series.yaml`` replays (committed as data; re-running
this with the same seed writes the same file).

    python -m bench.make_series [--out bench/scenarios/series_support.csv] [--seed 2026]

It stands for a user's own traffic log, summed per hour: the customer-support route of a Chinese online shop in
November 2026. Office hours in Beijing (UTC+8: busy 01:00-10:00 UTC with a lunch dip at 04:00-05:00 UTC), a
quiet night, Saturdays at 70% and Sundays at 50%, the Singles' Day rush (11 November: the days before build up,
the day itself ×3.5, the after-sales tail decays over a week), 0.5% growth a day, autocorrelated hour-to-hour
noise, and a two-hour client-side incident on day 19 when nothing was sent.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import sys
from pathlib import Path

import numpy as np

START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
DAYS = 30
ROUTE = "support"
MEAN = 600_000.0  # tokens per hour on an ordinary weekday


def series(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hours = DAYS * 24
    h = np.arange(hours)
    hod = h % 24
    day = h // 24
    # Beijing office hours: a plateau 01-10 UTC, lunch dip, evening shoppers 11-15 UTC, night floor.
    profile = np.array(
        [0.5, 1.3, 1.6, 1.7, 1.2, 1.3, 1.6, 1.6, 1.5, 1.3, 1.0, 1.1, 1.2, 1.2, 1.0, 0.8, 0.5, 0.3, 0.2, 0.15, 0.15,
         0.15, 0.2, 0.3]
    )
    weekday = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.7, 0.5])[[(START.weekday() + d) % 7 for d in day]]
    shop = np.ones(hours)
    for d, f in {7: 1.2, 8: 1.4, 9: 1.8, 10: 3.5, 11: 2.2, 12: 1.7, 13: 1.4, 14: 1.25, 15: 1.15, 16: 1.08}.items():
        shop[day == d] = f
    growth = 1.005 ** (h / 24)
    e = np.empty(hours)
    e[0] = rng.normal()
    for i in range(1, hours):
        e[i] = 0.7 * e[i - 1] + np.sqrt(1 - 0.7**2) * rng.normal()
    noise = np.exp(0.2 * e - 0.02)
    tokens = MEAN * profile[hod] / profile.mean() * weekday * shop * growth * noise
    tokens[19 * 24 + 6 : 19 * 24 + 8] = 0.0  # the client's incident: nothing sent
    return np.asarray(np.round(tokens), dtype=float)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="bench/scenarios/series_support.csv")
    p.add_argument("--seed", type=int, default=2026)
    args = p.parse_args(argv)
    with Path(args.out).open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["time", "route", "tokens"])
        for i, v in enumerate(series(args.seed)):
            w.writerow([(START + dt.timedelta(hours=i)).strftime("%Y-%m-%dT%H:%M:%SZ"), ROUTE, int(v)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
