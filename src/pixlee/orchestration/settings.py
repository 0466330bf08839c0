"""What the orchestration runs, read from dlt config like every other setting.

```toml
[pixlee_dagster]                 # .dlt/config.toml, or PIXLEE_DAGSTER__<NAME>
shards = 3                       # album shards per account (default 1)
destination = "duckdb"           # any dlt destination; its credentials as dlt reads them
dataset_name = "pixlee_data"     # one account; several: pixlee_data_<account>
duckdb_file = "pixlee.duckdb"    # when destination = "duckdb"
accounts = ["brand_a", "brand_b"]  # optional: several Pixlee accounts, see below
max_retries = 2                  # a failed load (one shard) is retried alone, this often
retry_delay_seconds = 30

[sources.pixlee_source.brand_a]  # .dlt/secrets.toml: each named account's own key (required)
api_key = "…"
skus = ["PTS5"]                  # optional, the account's own (never another account's)
```

Without `accounts` there is one account, `pixlee`, configured exactly as `pixlee run` is
(`[sources.pixlee_source]`). A named account reads every other source setting (rate limit,
shared limiter backend, base URL…) from `[sources.pixlee_source.<name>]` first, then from
`[sources.pixlee_source]`; its key, SKUs and album list never fall back, so one brand's
settings can never be read with another brand's key.

Account settings are resolved when a load runs, not when the definitions are built: the
process that lists the assets (a webserver, a code server) needs no key.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import dlt

from pixlee.api.errors import PixleeConfigError
from pixlee.pipeline import DATASET_NAME, DUCKDB_FILE
from pixlee.source import pixlee_source

SECTION = "pixlee_dagster"
SOURCE_SECTION = "sources.pixlee_source"
DEFAULT_ACCOUNT = "pixlee"
MAX_SHARDS = 256
ACCOUNT_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def _config_type(hint: Any) -> Any:
    """The plain type dlt's config reader coerces to (`list[int] | None` -> `list`)."""
    args = typing.get_args(hint)
    if type(None) in args:
        rest = [arg for arg in args if arg is not type(None)]
        hint = rest[0] if len(rest) == 1 else Any
    return typing.get_origin(hint) or hint


_SOURCE_HINTS = typing.get_type_hints(inspect.unwrap(pixlee_source))
# every argument of `pixlee_source`, with the type its config value is read as
SOURCE_PARAMETERS = {
    name: _config_type(_SOURCE_HINTS.get(name, Any))
    for name in inspect.signature(pixlee_source).parameters
}


@dataclass(frozen=True)
class Account:
    """One Pixlee account: its name (asset key prefix, pipeline name prefix) and dataset.

    `overrides` are explicit `pixlee_source` arguments that win over config (the deploy recipe
    and tests pass the key and base URL this way); never printed, they may hold the key.
    """

    name: str = DEFAULT_ACCOUNT
    dataset_name: str = DATASET_NAME
    named: bool = False
    overrides: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def section(self) -> str:
        return SOURCE_SECTION if not self.named else f"{SOURCE_SECTION}.{self.name}"

    def source_kwargs(self) -> dict[str, Any]:
        """Explicit `pixlee_source` arguments for this account, resolved now (at run time);
        whatever is not here the source resolves from `[sources.pixlee_source]` itself."""
        kwargs: dict[str, Any] = {}
        if self.named:
            for name, kind in SOURCE_PARAMETERS.items():
                read = dlt.secrets.get if name == "api_key" else dlt.config.get
                value = read(f"{self.section}.{name}", kind)
                if value is not None:
                    kwargs[name] = value
            kwargs.setdefault("skus", [])
        kwargs.update(self.overrides)
        if self.named and not kwargs.get("api_key"):
            env = f"{self.section}.api_key".upper().replace(".", "__")
            raise PixleeConfigError(
                f"Pixlee account {self.name!r} has no API key: set `api_key` under "
                f"[{self.section}] in .dlt/secrets.toml, or the environment variable {env}."
            )
        return kwargs

    def configured_album_ids(self) -> list[int] | None:
        """The albums this account is limited to in config (`album_ids`), if any."""
        if "album_ids" in self.overrides:
            value = self.overrides["album_ids"]
        else:
            value = dlt.config.get(f"{self.section}.album_ids", list)
        if value is None:
            return None
        values = [value] if isinstance(value, int | str) else list(value)
        if not values:  # as the source: an empty list is not "every album"
            raise PixleeConfigError(
                f"album_ids under [{self.section}] is empty: list at least one album id, "
                "or leave album_ids out to load every album"
            )
        try:
            return [int(v) for v in values]
        except (TypeError, ValueError):
            raise PixleeConfigError(
                f"album_ids under [{self.section}] must be integers, got {value!r}"
            ) from None


@dataclass(frozen=True)
class OrchestrationSettings:
    """The whole plan: which accounts, how many shards each, where they load."""

    accounts: tuple[Account, ...] = (Account(),)
    shards: int = 1
    destination: str = "duckdb"
    duckdb_file: str = DUCKDB_FILE
    pipelines_dir: str | None = None
    max_retries: int = 2
    retry_delay_seconds: float = 30.0

    def __post_init__(self) -> None:
        if not 1 <= self.shards <= MAX_SHARDS:
            raise PixleeConfigError(
                f"[{SECTION}] shards must be between 1 and {MAX_SHARDS}, got {self.shards}"
            )
        names = [account.name for account in self.accounts]
        if not names or len(set(names)) != len(names):
            raise PixleeConfigError(f"[{SECTION}] accounts must be distinct, got {names}")
        if self.max_retries < 0 or self.retry_delay_seconds < 0:
            raise PixleeConfigError(
                f"[{SECTION}] max_retries and retry_delay_seconds cannot be negative"
            )


def read_settings() -> OrchestrationSettings:
    """The settings in dlt config (`[pixlee_dagster]`, `PIXLEE_DAGSTER__*`); no key is read."""
    dataset_name = str(_setting("dataset_name", DATASET_NAME))
    names = _account_names()
    if not names:
        accounts: tuple[Account, ...] = (Account(DEFAULT_ACCOUNT, dataset_name),)
    else:
        accounts = tuple(_named_account(name, dataset_name) for name in names)
    return OrchestrationSettings(
        accounts=accounts,
        shards=_integer("shards", 1),
        destination=str(_setting("destination", "duckdb")),
        duckdb_file=str(_setting("duckdb_file", DUCKDB_FILE)),
        pipelines_dir=_setting("pipelines_dir", None),
        max_retries=_integer("max_retries", 2),
        retry_delay_seconds=float(_setting("retry_delay_seconds", 30.0)),
    )


def _account_names() -> list[str]:
    """`accounts` as a list (TOML list, or JSON in PIXLEE_DAGSTER__ACCOUNTS)."""
    try:
        names = dlt.config.get(f"{SECTION}.accounts", list)
    except Exception:
        raise PixleeConfigError(
            f'[{SECTION}] accounts must be a list of names, e.g. accounts = ["brand_a", '
            f'"brand_b"] (environment: PIXLEE_DAGSTER__ACCOUNTS=\'["brand_a", "brand_b"]\')'
        ) from None
    return [str(name) for name in names or []]


def _named_account(name: str, dataset_name: str) -> Account:
    if not ACCOUNT_NAME.fullmatch(name):
        raise PixleeConfigError(
            f"[{SECTION}] accounts are lower-case names (letters, digits, _), e.g. "
            f'accounts = ["brand_a", "brand_b"]; got {name!r}'
        )
    dataset: Any = dlt.config.get(f"{SOURCE_SECTION}.{name}.dataset_name")
    return Account(name, str(dataset or f"{dataset_name}_{name}"), named=True)


def _setting(name: str, default: Any) -> Any:
    value: Any = dlt.config.get(f"{SECTION}.{name}")
    return default if value is None else value


def _integer(name: str, default: int) -> int:
    value = _setting(name, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise PixleeConfigError(f"[{SECTION}] {name} must be an integer, got {value!r}") from None
