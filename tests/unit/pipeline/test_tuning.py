"""The opt-in process tunings: applied only inside the block that asks, undone where they can be."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from pixlee.pipeline import tuned, tuning


class _RecordingLibc:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def mallopt(self, *args: Any) -> int:
        self.calls.append(("mallopt", args))
        return 1

    def malloc_trim(self, *args: Any) -> int:
        self.calls.append(("malloc_trim", args))
        return 1


@pytest.fixture
def libc(monkeypatch: pytest.MonkeyPatch) -> _RecordingLibc:
    recording = _RecordingLibc()
    monkeypatch.setattr(tuning, "_libc", lambda: recording)
    return recording


def test_the_block_raises_the_gc_threshold_and_restores_it(libc: _RecordingLibc) -> None:
    before = gc.get_threshold()
    with tuned(gen0=123_456, arenas=3):
        inside = gc.get_threshold()
        calls_inside = list(libc.calls)
    assert inside == (max(before[0], 123_456), *before[1:])
    assert gc.get_threshold() == before
    assert calls_inside == [("mallopt", (tuning._M_ARENA_MAX, 3))]
    assert libc.calls == [*calls_inside, ("malloc_trim", (0,))]


def test_a_failing_block_still_restores_the_threshold_and_hands_memory_back(
    libc: _RecordingLibc,
) -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError, match="the run failed"), tuned():
        raise RuntimeError("the run failed")
    assert gc.get_threshold() == before
    assert libc.calls[-1] == ("malloc_trim", (0,))


def test_nothing_is_tuned_without_the_block(libc: _RecordingLibc) -> None:
    """Importing the package and building a source change nothing in the process."""
    before = gc.get_threshold()
    import pixlee

    pixlee.pixlee_source(api_key="k", album_ids=[1])
    assert gc.get_threshold() == before
    assert libc.calls == []
