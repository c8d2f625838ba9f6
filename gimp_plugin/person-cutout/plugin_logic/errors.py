# Person Cutout for GIMP 3 — cut people out of photos with deep segmenters.
# Copyright (C) 2026 the Person Cutout authors. GPL-3.0-or-later (see LICENSE).
"""The server's (or the client's) errors in words a GIMP user can act on: what happened, once, and what to do.

The client's own message for a server gone silent already names the server and says it may have
stopped; wrapped in another sentence that names it again it read twice. Here each code gets one
sentence of what happened and one of what to do next: running the command again starts the
configured local server anew, and the log the plug-in keeps of a server it started says why it stopped.
"""

from __future__ import annotations

import os

from cutout_common.endpoints import is_local_endpoint

from . import segmenters
from .i18n import _
from .settings import PLUGIN_DIR, load_config, may_start_server

#: where a server the plug-in starts writes its output (beside config.json)
SERVER_LOG = os.path.join(PLUGIN_DIR, "server.log")


def server_error_text(code: str, message: str, header: dict, endpoint: str, config: dict | None = None) -> str:
    """The user's message for an error ``code`` (with the server's ``message`` and reply ``header``) at ``endpoint``."""
    if code == "weights_missing":
        name = header.get("segmenter") or "?"
        folder = (config if config is not None else load_config()).get("server_cwd")
        known = name in segmenters.vocabulary.SEGMENTERS
        return _("The segmenter “%(name)s” is not installed. %(how)s") % {
            "name": name, "how": segmenters.install_how([name], folder) if known else message}
    if code == "unreachable":
        return stopped_answering(endpoint, config if config is not None else load_config())
    if code in ("timeout", "deadline"):
        return _("The Person Cutout server at %(endpoint)s took longer than the timeout allows. "
                 "Raise Timeout in the dialog, or try a smaller image.") % {"endpoint": endpoint}
    return _("The Person Cutout server could not do it: %s") % message


def stopped_answering(endpoint: str, config: dict) -> str:
    """A server that went silent in the middle of a job: said once, with the next step and where its log is."""
    what = _("The Person Cutout server at %s stopped answering in the middle of the job.") % endpoint
    if may_start_server(endpoint, config):
        return " ".join([what, _("Run the command again: the plug-in starts the server anew when none answers. "
                                 "Why it stopped is in its log, %s.") % SERVER_LOG])
    if is_local_endpoint(endpoint):
        return " ".join([what, _("Start the server at that address again (the plug-in starts one by itself only at "
                                 "the address set up at installation), then run the command again.")])
    return " ".join([what, _("Check that the server on that computer still runs (its log is there), "
                             "then run the command again.")])
