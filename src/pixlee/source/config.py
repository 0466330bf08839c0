"""The source's configuration as one typed dlt spec, `[sources.pixlee_source]`.

dlt resolves every field from arguments, `.dlt/config.toml`, `.dlt/secrets.toml` or
`SOURCES__PIXLEE_SOURCE__<FIELD>`; `pixlee_source` declares it as its `spec`, so the keys users
already have keep working and tools (Dagster, docs) can read the fields and their types here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dlt.common.configuration import configspec
from dlt.common.configuration.specs import BaseConfiguration
from dlt.common.typing import TSecretStrValue

from pixlee.api.client import DEFAULT_BASE_URL, DEFAULT_PER_PAGE, PixleeClient, RetryPolicy
from pixlee.api.concurrency import DEFAULT_MAX_IN_FLIGHT
from pixlee.api.errors import PixleeConfigError
from pixlee.api.pacing import DEFAULT_RATE_LIMIT_PER_MINUTE, DEFAULT_SAFETY_MARGIN
from pixlee.source.quarantine import as_key
from pixlee.source.scanning import DEFAULT_OVERLAP_MINUTES, DEFAULT_RECONCILE, parse_reconcile

MISSING_KEY = (
    "Pixlee API key is missing: set `api_key` under [sources.pixlee_source] in "
    ".dlt/secrets.toml, or the environment variable SOURCES__PIXLEE_SOURCE__API_KEY "
    "(Pixlee app: Settings → Pixlee API)."
)


@configspec
class PixleeSourceConfiguration(BaseConfiguration):
    """Every setting of `pixlee_source` (see its docstring and the README for each one)."""

    api_key: TSecretStrValue | None = None
    """The account's API key (secrets.toml or SOURCES__PIXLEE_SOURCE__API_KEY)."""
    base_url: str = DEFAULT_BASE_URL
    """The API root; point it at the simulator or a proxy."""
    album_ids: list[int] | None = None
    """Albums to read; default: every album GET /albums lists."""
    skus: list[str] | None = None
    """Products whose content fills `product_media` (GET /albums/from_sku)."""
    filters: dict[str, Any] | None = None
    """Pixlee `filters` JSON, passed through to every album/SKU listing."""
    sort: dict[str, Any] | None = None
    """Pixlee `sort` JSON, passed through (default: the API's own). Forces complete scans."""
    per_page: int = DEFAULT_PER_PAGE
    """Items per page (the API may cap it; `next` decides where a listing ends)."""
    extra_endpoints: list[dict[str, Any]] | None = None
    """Other GET paths: dicts with `name`, `path`, optional `data_selector` ("data"),
    `params`, `primary_key`, `paginate` (True)."""
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE
    """GET budget of the key; requests are paced under it (and slowed further on 429s)."""
    write_rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE
    """POST budget of the key (counted apart by Pixlee)."""
    rate_limit_safety_margin: float = DEFAULT_SAFETY_MARGIN
    """Share of each budget left unused in any 60 s, for what the pacer cannot see (clock
    skew, a server that counts requests differently); 0 paces at the limit itself."""
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    """Most GET requests waiting on the network at once (albums in parallel, pages read
    ahead); about `rate_limit_per_minute / 60 x latency` reaches the limit."""
    rate_limit_backend: str | None = None
    """A SQLite file or Redis URL shared by every pipeline on this key."""
    max_attempts: int = 8
    """Attempts per request for 429/5xx/resets/truncated bodies."""
    backoff_seconds: float = 0.5
    """First backoff step (doubles per attempt, with jitter)."""
    max_retry_after_seconds: float = 300.0
    """Longest `Retry-After` honoured as sent."""
    reconcile: str = DEFAULT_RECONCILE
    """When an album gets a complete scan that catches edits and removals: "always",
    "never", or an interval since its last one ("1d", "12h", "7d")."""
    incremental_overlap_minutes: float = DEFAULT_OVERLAP_MINUTES
    """How far below the watermark an incremental scan reads."""
    use_arrow: bool = True
    """Hand media pages to dlt as Arrow tables (the layout dlt's normalizer makes, several
    times faster) when the destination loads parquet; False sends rows through dlt."""

    def client(self) -> PixleeClient:
        """The client every resource of one source object shares (one pacer, one budget)."""
        if not self.api_key:
            raise PixleeConfigError(MISSING_KEY)
        return PixleeClient(
            api_key=self.api_key,
            base_url=self.base_url,
            per_page=self.per_page,
            rate_limit_per_minute=self.rate_limit_per_minute,
            write_rate_limit_per_minute=self.write_rate_limit_per_minute,
            rate_limit_safety_margin=self.rate_limit_safety_margin,
            max_in_flight=self.max_in_flight,
            rate_limit_backend=self.rate_limit_backend,
            retry=RetryPolicy(
                max_attempts=self.max_attempts,
                backoff_seconds=self.backoff_seconds,
                max_retry_after_seconds=self.max_retry_after_seconds,
            ),
        )

    def configured_album_ids(self) -> list[int] | None:
        """`album_ids` as integers, each once; None reads every album GET /albums lists."""
        return normalise_album_ids(self.album_ids)

    def configured_skus(self) -> list[str]:
        return normalise_skus(self.skus)

    def reconcile_seconds(self) -> float | None:
        return parse_reconcile(self.reconcile)


def normalise_album_ids(album_ids: Sequence[Any] | str | int | None) -> list[int] | None:
    """The ids as integers, each once; None means every album.

    An empty list is refused rather than read as "every album": it usually comes from a
    filter that matched nothing, and loading the whole account instead would surprise.
    """
    if album_ids is None:
        return None
    if isinstance(album_ids, str | int):
        album_ids = [album_ids]
    result: list[int] = []
    for raw in album_ids:
        value = as_key(raw)
        if value is None:
            raise PixleeConfigError(
                f"album_ids must be integers, got {raw!r}: e.g. album_ids = [1659473, 1659474]"
            )
        result.append(value)
    if not result:
        raise PixleeConfigError(
            "album_ids is empty: list at least one album id (e.g. album_ids = [1659473]), "
            "or leave album_ids out to load every album"
        )
    return list(dict.fromkeys(result))


def normalise_skus(skus: Sequence[Any] | str | None) -> list[str]:
    if skus is None:
        return []
    if isinstance(skus, str):
        skus = [skus]
    return list(dict.fromkeys(str(sku) for sku in skus if str(sku).strip()))
