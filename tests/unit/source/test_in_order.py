"""dlt may hand a transformer the read stream's events out of order (it iterates the
generators of forked pipes round-robin); `InOrder` restores the stream's order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pixlee.source.run import InOrder, Sequenced


def test_events_are_handled_and_their_items_emitted_in_stream_order() -> None:
    handled: list[str] = []

    def handle(event: Any) -> Iterator[str]:
        handled.append(event)
        yield f"{event}-1"
        yield f"{event}-2"

    order = InOrder()
    late = order.feed(Sequenced(1, "b"), handle)  # event 1 arrives first: it waits
    assert list(late) == [] and handled == []
    first = order.feed(Sequenced(0, "a"), handle)
    assert next(first) == "a-1"  # handling 0 also handles the waiting 1, eagerly
    assert handled == ["a", "b"]
    third = order.feed(Sequenced(2, "c"), handle)
    # whichever generator runs, items leave in the stream's order
    assert list(third) == ["a-2", "b-1", "b-2", "c-1", "c-2"]
    assert list(first) == []
