"""Seeded malformed requests, for the robustness tests and ``python -m server bench load``.

Garbage frames, truncated and bit-flipped headers, wrong types, huge sizes, unknown ops,
odd Unicode and wrong frame counts: every one must get exactly one final ``error`` (or,
by chance, a ``result``) and leave the server as it was.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator


def malformed_messages(rng: random.Random, count: int, segmenter: str = "brightness") -> Iterator[list[bytes]]:
    """``count`` multipart messages (lists of frames) drawn from ``rng``."""
    good_header = {
        "v": 1,
        "id": "x",
        "op": "cutout",
        "width": 8,
        "height": 4,
        "format": "RGBA8",
        "segmenter": segmenter,
        "options": {},
    }
    values = [None, True, -1, 0, 2**63, 1e308, "", "é🙂\u0000", [], {}, [1, 2], "RGBA8", "cutout", 1, 4, 8]
    for index in range(count):
        kind = rng.randrange(8)
        header = dict(good_header, id=f"f{index}")
        pixels = bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 127, 128, 129])))
        if kind == 0:
            frames = [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))]
        elif kind == 1:
            key = rng.choice(list(header))
            header[key] = rng.choice(values)
            frames = [json.dumps(header).encode(), pixels]
        elif kind == 2:
            del header[rng.choice(list(header))]
            frames = [json.dumps(header).encode(), pixels]
        elif kind == 3:
            header.update(width=rng.choice([10**5, 10**9, 2**31]), height=rng.choice([10**5, 10**9]))
            frames = [json.dumps(header).encode(), pixels]
        elif kind == 4:
            text = json.dumps(header).encode()
            frames = [text[: rng.randrange(len(text))], pixels]
        elif kind == 5:
            frames = [json.dumps(header).encode()] + [pixels] * rng.randrange(0, 4)
        elif kind == 6:
            header["op"] = rng.choice(["", "HELLO", "cut", "é", "cancel", "instances", "comic"])
            frames = [json.dumps(header).encode(), pixels]
        else:
            raw = bytearray(json.dumps(header).encode())
            for _ in range(rng.randrange(1, 4)):
                raw[rng.randrange(len(raw))] = rng.randrange(256)
            frames = [bytes(raw), pixels]
        yield frames
