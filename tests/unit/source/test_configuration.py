"""Settings reach what they set: from dlt's config (env here) through the source to the client."""

from __future__ import annotations

import pytest

from pixlee.api.client import PixleeClient
from pixlee.source.config import PixleeSourceConfiguration


def test_the_safety_margin_sets_both_pacers_ceilings() -> None:
    settings = PixleeSourceConfiguration(
        api_key="k", rate_limit_per_minute=1000, write_rate_limit_per_minute=600,
        rate_limit_safety_margin=0.1,
    )  # fmt: skip
    client = settings.client()
    try:
        assert client.read_pacer.plan is not None and client.write_pacer.plan is not None
        assert client.read_pacer.plan.safety_margin == 0.1
        assert client.read_pacer.plan.ceiling_per_minute == 900
        assert client.write_pacer.plan.ceiling_per_minute == 540
    finally:
        client.close()


def test_the_safety_margin_resolves_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The source passes it on: a field on the spec but missing from the source's signature
    would silently keep the default."""
    import pixlee

    built: list[PixleeSourceConfiguration] = []
    make_client = PixleeSourceConfiguration.client

    def recording_client(self: PixleeSourceConfiguration) -> PixleeClient:
        built.append(self)
        return make_client(self)

    monkeypatch.setattr(PixleeSourceConfiguration, "client", recording_client)
    monkeypatch.setenv("SOURCES__PIXLEE_SOURCE__API_KEY", "k")
    monkeypatch.setenv("SOURCES__PIXLEE_SOURCE__RATE_LIMIT_SAFETY_MARGIN", "0.25")
    pixlee.pixlee_source()
    assert [settings.rate_limit_safety_margin for settings in built] == [0.25]


def test_album_ids_are_integers_each_once_and_none_means_every_album() -> None:
    from pixlee.source.config import normalise_album_ids

    assert normalise_album_ids(None) is None
    assert normalise_album_ids(["7", 3, 7, "3"]) == [7, 3]
    assert normalise_album_ids("12") == [12]


@pytest.mark.parametrize("album_ids", [[], (), ","])
def test_an_empty_album_list_is_refused_not_read_as_every_album(album_ids: object) -> None:
    """An empty list usually comes from a filter that matched nothing: loading the whole
    account instead would be the costly surprise."""
    import pixlee
    from pixlee.api.errors import PixleeConfigError
    from pixlee.cli import _split

    given = _split(album_ids, int) if album_ids == "," else album_ids
    with pytest.raises(PixleeConfigError) as raised:
        pixlee.pixlee_source(api_key="k", album_ids=given)  # type: ignore[arg-type]
    assert str(raised.value) == (
        "album_ids is empty: list at least one album id (e.g. album_ids = [1659473]), "
        "or leave album_ids out to load every album"
    )
