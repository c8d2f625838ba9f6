# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""The server's progress as GIMP's progress bar: one bar that never runs backwards, and words for each stage.

The server reports each stage of a request from 0 to 1 (``segment``, then ``edges``, then
``comic``), and ``queued`` with ``ahead`` while the request waits behind others. Shown as they
come, the bar would start again at every stage; here each stage the request runs gets its share
of the bar (and a request its share of a procedure that sends several), and the bar only moves
forward. The text moves forward too: a stage the server reports after a later one has begun (its
final ``encode``, a segmenter's late step) keeps the text shown. While the request waits, the text
says how many jobs must finish before it starts, so a call does not look hung behind another job.
"""

from __future__ import annotations

from .i18n import N_, _, ngettext

#: the pipeline's stages in the order the server runs them; any other name is part of the segmenter's work
STAGES = ("segment", "refine", "edges", "comic")
STAGE_TEXT = {
    "load": N_("Loading the segmenter…"),
    "segment": N_("Finding the person…"),
    "refine": N_("Redoing the cut-out where the hints say…"),
    "edges": N_("Refining the edges…"),
    "comic": N_("Drawing the comic layers…"),
    "stopping": N_("Stopping…"),
}
#: the server's last stage: the answer is being encoded, no work of a stage of its own
FINAL_STAGE = "encode"
#: loading the segmenter (the first request after a start: seconds) reports 0 … 1 too; it fills this much of the
#: segment stage's share, so the bar moves while it loads and is not full before the segmenting has begun
LOAD_SHARE = 0.1


def queue_text(ahead: int) -> str:
    """What a waiting request shows. ``ahead``: requests waiting before it; one more is running on the server."""
    jobs = max(0, int(ahead)) + 1  # the request waits because a job runs: it starts after ahead + 1 have finished
    return ngettext("Waiting for the server: %d job ahead", "Waiting for the server: %d jobs ahead", jobs) % jobs


class Progress:
    """One request's progress as (text, fraction of the whole bar), for a request that runs ``stages``.

    ``start``/``end``: the part of the bar this request fills (Place in Panel… sends one request
    per comic group). The fraction never goes back, whatever the server reports.
    """

    def __init__(self, stages: tuple[str, ...] = ("segment",), start: float = 0.0, end: float = 1.0):
        self.stages = tuple(s for s in STAGES if s in stages) or ("segment",)
        self.start, self.end = start, end
        self.shown = start
        self.reached = 0  # the index in ``stages`` of the furthest stage reported

    def update(self, stage: str, fraction: float) -> tuple[str | None, float]:
        """(text, bar fraction) for a progress reply; text None: keep the one shown."""
        if stage == "stopping":
            return _(STAGE_TEXT[stage]), self.shown
        if stage == "starting":  # the server's heartbeat before the work reports anything
            return None, self.shown
        if stage == FINAL_STAGE:  # the work is done, the answer is on its way: the bar is full
            self.shown, self.reached = self.end, len(self.stages)
            return None, self.shown
        name = stage if stage in STAGES else "segment"  # "load", "segment (cpu fallback)", a model's own steps
        if stage == "load":
            fraction = LOAD_SHARE * min(max(float(fraction), 0.0), 1.0)
        index = self.stages.index(name) if name in self.stages else 0
        if index < self.reached:  # a late report of an earlier stage: the text and the bar stay
            return None, self.shown
        self.reached = index
        share = (self.end - self.start) / len(self.stages)
        here = self.start + share * (index + min(max(float(fraction), 0.0), 1.0))
        self.shown = max(self.shown, min(here, self.end))
        return _(STAGE_TEXT.get(stage, STAGE_TEXT[name])), self.shown

    def first(self) -> tuple[str, float]:
        """What the bar shows as the request is sent: its first stage."""
        return _(STAGE_TEXT["load" if self.stages[0] == "segment" else self.stages[0]]), self.shown

    def queued(self, ahead: int) -> tuple[str, float]:
        return queue_text(ahead), self.shown
