"""What the server and the broker share as running things: started on a thread, stopped, waited for.

Each owns its sockets in one thread (ZeroMQ sockets are not thread-safe), so :meth:`start` runs
``serve_forever`` on a thread of its own and returns once it is answering; tests, benchmarks and the
worker's inner server use it, ``python -m server serve`` calls ``serve_forever`` in the main thread.
"""

from __future__ import annotations

import threading
from typing import Any


class ServingLoop:
    """A mix-in: the class provides ``bind()`` (which sets :attr:`bound`) and ``serve_forever()``."""

    #: what ``bind()`` returned (the endpoint or endpoints), None until bound
    bound: Any = None

    def _init_loop(self) -> None:
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def thread(self) -> threading.Thread | None:
        """The background thread :meth:`start` serves on (None when serving in the caller's thread)."""
        return self._thread

    def stop(self) -> None:
        """Ask the loop to finish (it answers what is pending and closes its sockets)."""
        self._stop.set()

    def wait_ready(self, timeout: float = 10.0) -> bool:
        return self._ready.wait(timeout)

    def start(self, timeout: float = 10.0) -> Any:
        """Bind (unless bound), serve on a background thread, return what ``bind`` returned once serving."""
        bound = self.bound if self.bound is not None else self.bind()
        self._thread = threading.Thread(target=self.serve_forever, name=type(self).__name__.lower(), daemon=True)
        self._thread.start()
        if not self.wait_ready(timeout):
            raise RuntimeError(f"{type(self).__name__} did not start within {timeout} s")
        return bound

    def close(self, timeout: float = 10.0) -> None:
        """Stop and wait for the background thread started by :meth:`start`."""
        self.stop()
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
