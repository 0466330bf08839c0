"""The real client, in real time, against a stdlib server of each window kind: 0 × 429.

Time is scaled tenfold (a 6 s window of 60 requests stands for Pixlee's minute of 600), and the
pacer's margin is raised to 20% with a burst of 2: at scale, a second of scheduling delay on a
loaded two-core machine is a sixth of a window, where in Pixlee's minute it is a sixtieth. With
that margin a request may reach the server up to ~1.5 s after its slot and the window still
holds; the unit tests (`tests/unit/api/test_pacing.py`) prove the default margin in virtual time.
"""

from __future__ import annotations

import threading
import time

import pytest

from pixlee.api.client import PixleeClient
from pixlee.api.pacing import make_pacer
from tests.support.rate_limited_server import Catalogue, rate_limited_server
from tests.support.rate_windows import WINDOW_KINDS, make_window, most_in_any_window

pytestmark = pytest.mark.paced

WINDOW_SECONDS = 6.0
LIMIT_PER_WINDOW = 60
PER_MINUTE = int(LIMIT_PER_WINDOW * 60 / WINDOW_SECONDS)
MARGIN = 0.2
BURST = 2
RUN_SECONDS = 9.0  # a window and a half: the start, a full window, and the slide past it
THREADS = 3


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", WINDOW_KINDS)
def test_the_paced_client_draws_no_429_from_any_window_kind(kind: str) -> None:
    window = make_window(kind, LIMIT_PER_WINDOW, WINDOW_SECONDS)  # a bucket of 1 s of rate
    with rate_limited_server(window, catalogue=Catalogue(THREADS, 1000)) as server:
        client = PixleeClient(api_key="k", base_url=server.base_url, per_page=1)
        client.read_pacer.close()
        client.read_pacer = make_pacer(PER_MINUTE, "get", safety_margin=MARGIN, burst=BURST)
        end = time.monotonic() + RUN_SECONDS

        def read(album_id: int) -> None:
            for _ in client.iter_album_photos(album_id):
                if time.monotonic() >= end:
                    return

        threads = [threading.Thread(target=read, args=(a,)) for a in server.catalogue.album_ids()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        client.close()
    admitted = server.arrivals.admitted
    print(f"{kind}: {len(admitted)} admitted, {len(server.arrivals.refused)} refused")
    assert server.arrivals.refused == []
    if kind == "sliding":
        assert most_in_any_window(admitted, WINDOW_SECONDS) <= LIMIT_PER_WINDOW
    # it did run at pace: 9 s at 8/s is 72 requests; a loaded machine may lose some, not half
    assert len(admitted) >= 36
