"""Reverse ETL: dlt destinations that upsert products and create media in Pixlee.

``dlt.pipeline(destination=pixlee_products()).run(rows)`` sends every row of every table of the
run to Pixlee through :class:`pixlee.PixleeClient` (signed, paced, retried as in
:mod:`pixlee.api.write.bulk`). dlt's own destination machinery makes it resumable: rows reach the
function in batches of ``batch_size``, and dlt records in the load package, after each batch
returns, how far into the file it got. A run that crashes is finished by the next run of the
pipeline, starting after the last completed batch. At most the one batch in flight at the crash
is sent again, and both writes are idempotent (products by ``sku``, media by ``photo_uri``), so
nothing is created twice.

A batch's rows are all attempted before the batch's outcome is decided:

* a transient failure (Pixlee unavailable after the client's retries) raises a plain exception:
  dlt retries the job, and a later run resumes it;
* a rejected row (validation, 4xx) fails the job terminally with every rejected row named,
  unless ``fail_on_rejected=False`` (then the rows are logged and skipped);
* a rejected key or signature (401/403) or missing keys fail the job at once.

Credentials: ``[destination.pixlee_products]`` (or ``[destination.pixlee_media]``)
``private_api_key`` / ``secret_key`` / ``base_url``, falling back to ``[sources.pixlee_source]``
so one secrets.toml serves both directions.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import dlt
from dlt.common.configuration.specs import configspec
from dlt.common.destination.exceptions import (
    DestinationTerminalException,
    DestinationTransientException,
)
from dlt.common.schema import TTableSchema
from dlt.common.typing import TDataItems, TSecretStrValue
from dlt.destinations.impl.destination.configuration import CustomDestinationClientConfiguration

from pixlee.api.client import PixleeClient
from pixlee.api.errors import PixleeAuthError, PixleeConfigError
from pixlee.api.redaction import redact, register_secret
from pixlee.api.write.bulk import ItemResult
from pixlee.api.write.signing import Algorithm

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 50
_MAX_LISTED = 20


@configspec
class PixleeDestinationConfiguration(CustomDestinationClientConfiguration):
    """Keys are secrets (dlt never writes them to its trace); all optional so that a missing
    one falls back to `[sources.pixlee_source]` instead of failing resolution."""

    private_api_key: TSecretStrValue | None = None
    secret_key: TSecretStrValue | None = None
    base_url: str | None = None
    signature_algorithm: str = "sha1"
    write_rate_limit_per_minute: int = 3600
    fail_on_rejected: bool = True


_clients: dict[tuple[str, str, str, int], PixleeClient] = {}
_clients_lock = threading.Lock()


def _client(
    private_api_key: str | None,
    secret_key: str | None,
    base_url: str | None,
    signature_algorithm: str,
    rate_limit: int,
) -> PixleeClient:
    """One client per effective configuration for the process: all batches share one pacer.

    The client is built first so that the `[sources.pixlee_source]` fallback is resolved, and
    the cache is keyed on what it resolved to (a key fingerprint, never the key itself).
    """
    for secret in (private_api_key, secret_key):
        register_secret(secret)
    fresh = PixleeClient(
        private_api_key=private_api_key,
        secret_key=secret_key,
        base_url=base_url,
        write_rate_limit_per_minute=rate_limit,
        signature_algorithm=cast(Algorithm, signature_algorithm),
    )
    private, secret = fresh.require_write_credentials()  # fails before the first row
    fingerprint = hashlib.sha256(f"{private}\0{secret}".encode()).hexdigest()
    key = (fresh.base_url, fingerprint, signature_algorithm, rate_limit)
    with _clients_lock:
        client = _clients.setdefault(key, fresh)
    if client is not fresh:
        fresh.close()
    return client


def _deliver(
    items: TDataItems,
    table: TTableSchema,
    submit: Callable[[PixleeClient, Sequence[Mapping[str, Any]]], list[ItemResult]],
    config: Mapping[str, Any],
) -> None:
    """Send one batch, then turn its outcomes into what dlt's loader understands."""
    if isinstance(items, str):
        raise DestinationTerminalException("pixlee destinations need batch_size > 0 (rows)")
    rows = [dict(item) for item in items]
    failure: str | None = None
    try:
        client = _client(
            config["private_api_key"],
            config["secret_key"],
            config["base_url"],
            config["signature_algorithm"],
            config["write_rate_limit_per_minute"],
        )
        results = submit(client, rows)
    except (PixleeAuthError, PixleeConfigError) as exc:
        failure = redact(str(exc))
    if failure is not None:
        raise DestinationTerminalException(failure)  # outside `except`: nothing chained
    _raise_for_failures(results, str(table.get("name") or "?"), bool(config["fail_on_rejected"]))


def _raise_for_failures(results: list[ItemResult], table_name: str, fail_on_rejected: bool) -> None:
    failed = [r for r in results if not r.ok]
    if not failed:
        return
    listed = "; ".join(f"row {r.key or r.index}: {r.error}" for r in failed[:_MAX_LISTED])
    more = f" (+{len(failed) - _MAX_LISTED} more)" if len(failed) > _MAX_LISTED else ""
    summary = f"Pixlee: {len(failed)} of {len(results)} rows of table {table_name!r} failed"
    if any(r.retryable for r in failed):
        raise DestinationTransientException(f"{summary} (will be retried): {listed}{more}")
    if fail_on_rejected:
        raise DestinationTerminalException(f"{summary}: {listed}{more}")
    logger.warning("%s and were skipped: %s%s", summary, listed, more)


def _submit_products(client: PixleeClient, rows: Sequence[Mapping[str, Any]]) -> list[ItemResult]:
    return client.submit_products(rows)


def _submit_media(client: PixleeClient, rows: Sequence[Mapping[str, Any]]) -> list[ItemResult]:
    return client.submit_media(rows)


def _fallback(value: str | None) -> str | None:
    """dlt hands secrets over as `TSecretStrValue` (a `str`); empty means "not set here"."""
    return str(value) if value else None


def _settings(
    private_api_key: str | None,
    secret_key: str | None,
    base_url: str | None,
    signature_algorithm: str,
    write_rate_limit_per_minute: int,
    fail_on_rejected: bool,
) -> dict[str, Any]:
    """The resolved settings of either destination, as `_deliver` takes them."""
    return {
        "private_api_key": _fallback(private_api_key),
        "secret_key": _fallback(secret_key),
        "base_url": _fallback(base_url),
        "signature_algorithm": signature_algorithm,
        "write_rate_limit_per_minute": write_rate_limit_per_minute,
        "fail_on_rejected": fail_on_rejected,
    }


@dlt.destination(
    name="pixlee_products",
    batch_size=DEFAULT_BATCH_SIZE,
    loader_file_format="typed-jsonl",
    naming_convention="direct",
    max_table_nesting=0,
    skip_dlt_columns_and_tables=True,
    spec=PixleeDestinationConfiguration,
    loader_parallelism_strategy="sequential",
)
def pixlee_products(
    items: TDataItems,
    table: TTableSchema,
    private_api_key: TSecretStrValue | None = dlt.secrets.value,
    secret_key: TSecretStrValue | None = dlt.secrets.value,
    base_url: str | None = dlt.config.value,
    signature_algorithm: str = "sha1",
    write_rate_limit_per_minute: int = 3600,
    fail_on_rejected: bool = True,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> None:
    """Upsert each row as a Pixlee product (columns as :meth:`PixleeClient.upsert_product`).

    `batch_size` is dlt's own setting (rows per call, progress saved after each); it is in the
    signature so that `pixlee_products(batch_size=…)` type-checks.
    """
    _deliver(
        items,
        table,
        _submit_products,
        _settings(
            private_api_key,
            secret_key,
            base_url,
            signature_algorithm,
            write_rate_limit_per_minute,
            fail_on_rejected,
        ),
    )


@dlt.destination(
    name="pixlee_media",
    batch_size=DEFAULT_BATCH_SIZE,
    loader_file_format="typed-jsonl",
    naming_convention="direct",
    max_table_nesting=0,
    skip_dlt_columns_and_tables=True,
    spec=PixleeDestinationConfiguration,
    loader_parallelism_strategy="sequential",
)
def pixlee_media(
    items: TDataItems,
    table: TTableSchema,
    private_api_key: TSecretStrValue | None = dlt.secrets.value,
    secret_key: TSecretStrValue | None = dlt.secrets.value,
    base_url: str | None = dlt.config.value,
    signature_algorithm: str = "sha1",
    write_rate_limit_per_minute: int = 3600,
    fail_on_rejected: bool = True,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> None:
    """Create each row as Pixlee content from its `photo_uri` (columns as `create_media`).

    `batch_size`: as for :func:`pixlee_products`.
    """
    _deliver(
        items,
        table,
        _submit_media,
        _settings(
            private_api_key,
            secret_key,
            base_url,
            signature_algorithm,
            write_rate_limit_per_minute,
            fail_on_rejected,
        ),
    )
