"""Requests over ZeroMQ: the server (:mod:`.service`, its answers in :mod:`.handler`), the broker and its workers,
who may connect (:mod:`.security`).

The wire protocol itself is :mod:`cutout_common.protocol`, shared with the GIMP plug-in. Every
cut-out runs :func:`server.pipeline.cutout.run_cutout`; this layer only moves requests and replies,
checks them, queues, cancels, and keeps each request to exactly one final reply.
"""
