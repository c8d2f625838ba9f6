"""One cut-out on numpy arrays, the same for the server, the CLI and ``eval``.

:mod:`.cutout` runs the stages (segment → refine edges → comic layers → composite); the stages are
plain functions in their own modules (:mod:`.edges`, :mod:`server.comic`); :mod:`.model_cache` keeps
networks loaded between requests and :mod:`.devices` picks CPU or GPU;
:mod:`.allocator` tunes glibc's malloc for large short-lived arrays. Nothing here knows about
sockets or command lines.
"""
