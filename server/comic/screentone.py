"""Screentone: round halftone dots on a rotated grid, as on a manga artist's tone sheet.

A tone sheet is named by its frequency (lines per inch), angle and coverage ("61 lpi,
20 %"); :func:`dots` draws exactly that, antialiased, so the period is measurable and the
dots print clean. Coverage sets the dot radius (π r² = coverage · period²); above ~78 %
neighbouring dots merge, so the coverage is limited to 70 %.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: rows per strip of :func:`dots` (about 0.05 s and 50 MB of temporaries at 4000 px wide)
STRIP_ROWS = 256


def dots(
    shape: tuple[int, int],
    period: float,
    angle_deg: float,
    coverage: float | np.ndarray,
    tick: Callable[[float], None] | None = None,
) -> np.ndarray:
    """H×W float32 ink amount in [0, 1]: dots of ``coverage`` every ``period`` px, screen turned ``angle_deg``.

    ``coverage`` may be an H×W array: one screen with dots of each pixel's own size, as tone sheets of
    several densities cut from the same screen lie on a page. Drawn in strips of :data:`STRIP_ROWS` rows:
    a dozen photo-sized float planes at once would cost a second and half a gigabyte at 12 MP; ``tick`` hears
    the fraction done after each strip (it may raise to stop the work).
    """
    if period <= 0 or not (np.all(coverage >= 0.0) and np.all(coverage <= 0.7)):
        raise ValueError(f"bad screen: period {period}, coverage {np.min(coverage)} .. {np.max(coverage)}")
    h, w = shape
    theta = np.deg2rad(angle_deg)
    c, s = np.float32(np.cos(theta) / period), np.float32(np.sin(theta) / period)
    x = np.arange(w, dtype=np.float32)[None, :] + 0.5
    coverage = np.asarray(coverage, np.float32)
    ink = np.empty((h, w), np.float32)
    for top in range(0, h, STRIP_ROWS):
        bottom = min(h, top + STRIP_ROWS)
        y = np.arange(top, bottom, dtype=np.float32)[:, None] + 0.5
        u = x * c - y * s  # position in screen cells; image y points down, so this turns the
        v = x * s + y * c  # screen counter-clockwise as seen, the way printers give screen angles
        du = u - np.round(u)
        dv = v - np.round(v)
        dist = np.sqrt(du * du + dv * dv) * np.float32(period)  # px to the nearest dot centre
        strip_coverage = coverage[top:bottom] if coverage.ndim == 2 else coverage
        radius = np.float32(period / np.sqrt(np.pi)) * np.sqrt(strip_coverage)
        np.clip(radius + np.float32(0.5) - dist, 0.0, 1.0, out=ink[top:bottom])
        if tick is not None:
            tick(bottom / h)
    return ink


def period_px(lpi: float, dpi: float, minimum: float = 3.0) -> float:
    """Screen period in pixels for ``lpi`` at ``dpi``; never below ``minimum`` (a dot needs pixels)."""
    return max(float(minimum), dpi / lpi)
