"""Measuring cut-outs: quality measures (:mod:`.metrics`), ``python -m server eval`` (:mod:`.evaluate`),
and the synthetic matting composites with a known alpha (:mod:`.composites`)."""
