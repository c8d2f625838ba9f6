"""Comic layers of a cut-out person: ink (XDoG lines), screentone and flat colour, in print units.

:func:`render` is the entry point (the pipeline calls it for the ``comic`` option); the styles'
parameter table lives in :mod:`cutout_common.comic_styles`, shared with the GIMP dialogs.
"""

from .render import STYLES, composite, demo_sheet, print_dpi, render, styles

__all__ = ["STYLES", "composite", "demo_sheet", "print_dpi", "render", "styles"]
