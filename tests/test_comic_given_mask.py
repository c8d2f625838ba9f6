"""The ``mask: alpha`` option: comic layers of a mask drawn by hand (GIMP's layer mask), no segmenter."""

from __future__ import annotations

import numpy as np
import pytest

from cutout_common.client import ServerError
from tests.test_server import Running, client


@pytest.fixture(scope="module")
def running():
    started = Running(queue_size=2, workers=1)
    yield started
    started.stop()


def test_comic_layers_follow_the_sent_alpha_not_a_segmenter(running):
    rng = np.random.default_rng(1)
    rgba = rng.integers(0, 256, (60, 80, 4), dtype=np.uint8)
    rgba[..., 3] = 0
    rgba[10:50, 20:60, 3] = 255  # the "person": a box the artist painted
    with client(running.endpoint, deadline=60) as c:
        reply = c.image_request("comic", rgba.tobytes(), 80, 60, "RGBA8",
                                options={"style": "posterize", "mask": "alpha"})
    mask = np.frombuffer(reply.frames["mask"], np.uint8).reshape(60, 80)
    np.testing.assert_array_equal(mask, rgba[..., 3])
    assert reply.header["segmenter"] == "alpha"
    flat = np.frombuffer(reply.frames["layer:Flat colour"], np.uint8).reshape(60, 80, 4)
    np.testing.assert_array_equal(flat[..., 3], rgba[..., 3])  # painted exactly where the mask is


def test_mask_alpha_needs_an_alpha_channel(running):
    rgb = np.zeros((20, 20, 3), np.uint8)
    with client(running.endpoint) as c, pytest.raises(ServerError) as caught:
        c.image_request("comic", rgb.tobytes(), 20, 20, "RGB8", options={"style": "lineart", "mask": "alpha"})
    assert caught.value.code == "bad_option" and "alpha channel" in caught.value.message
    with client(running.endpoint) as c, pytest.raises(ServerError) as caught:
        c.image_request("cutout", rgb.tobytes(), 20, 20, "RGB8", options={"mask": "painted"})
    assert caught.value.code == "bad_option"
