"""Pixlee's listings: pages 1, 2, … while the envelope's boolean `next` is true.

There is no cursor, no next URL, and `total` counts the current page, not the listing, so `next`
is the only end signal (dlt's paginator detection reads it as a cursor and loops forever). A
signal that decides when a loop over the network ends must be trusted only when it makes sense:

* a missing or malformed `next` is an error, never "done" (read as done, 20 of 60 media
  loaded as success);
* a page whose items repeat the previous page's exactly ends the listing with an error (a
  server stuck on one page would otherwise be read at the rate limit forever);
* `next` true on empty pages ends it with an error after `max_empty_pages` in a row.

Each is a :class:`pixlee.api.errors.PixleeContentError` naming path and page, so a caller
reading many albums can set one album aside and go on with the others.

Read-ahead (`read_pages_ahead`) requests the next pages while one is consumed, for listings
read to the end; the checks still run in page order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pixlee.api.errors import PixleeContentError
from pixlee.api.responses import snippet
from pixlee.api.values import as_bool

T = TypeVar("T")
_KEYS_SHOWN = 10


class ReadPage(Protocol):
    """A listing body a `BodyReader` read: the items the listing's checks and its caller use
    (possibly just the fields they read), and the envelope's `next`."""

    @property
    def items(self) -> list[dict[str, Any]]: ...

    @property
    def has_next(self) -> bool: ...

    def decoded(self) -> list[dict[str, Any]]:
        """The whole items, as JSON decoding gives them (for the rare checks that need them)."""
        ...


class BodyReader(Protocol):
    """Reads listing bodies in the thread that fetched them, before any JSON decoding (e.g.
    to columns, off the GIL). `read` answers None for a body it will not read: that body is
    decoded as JSON and checked as usual, and `learn` sees the envelope it decoded to."""

    def read(self, body: bytes | bytearray) -> ReadPage | None: ...

    def learn(self, envelope: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class Page:
    """One page of a listing: its items (JSON objects), its number, and whether more follow.

    `parsed`: the `ReadPage` a listing's `BodyReader` read the body as (None: decoded JSON).
    """

    items: list[dict[str, Any]]
    page: int
    has_next: bool
    parsed: Any = None


def parse_page(body: Any, *, path: str, page_no: int, data_selector: str = "data") -> Page:
    """The page in an envelope, or a :class:`PixleeContentError` saying what is wrong with it.

    `data_selector` is a dotted path to the list of items (`data` for every Pixlee listing).
    """
    where = f"GET {path} page {page_no}"
    if not isinstance(body, Mapping):
        raise _content_error(f"{where}: expected a JSON object envelope", path, page_no, body)
    items = _select_items(body, data_selector, where, path, page_no)
    if "next" not in body:
        message = f"{where}: the envelope has no `next`, so where the listing ends is unknown"
        raise _content_error(message, path, page_no, _keys(body))
    has_next = as_bool(body["next"])
    if has_next is None:
        message = f"{where}: `next` is {snippet(repr(body['next']), 40)}, expected true/false"
        raise _content_error(message, path, page_no, body["next"])
    return Page(items=items, page=page_no, has_next=has_next)


def _select_items(
    body: Mapping[str, Any], data_selector: str, where: str, path: str, page_no: int
) -> list[dict[str, Any]]:
    node: Any = body
    for part in data_selector.split(".") if data_selector else []:
        if not isinstance(node, Mapping) or part not in node:
            message = f"{where}: no {data_selector!r} in the response (keys: {_keys(body)})"
            raise _content_error(message, path, page_no, _keys(body))
        node = node[part]
    if not isinstance(node, list):
        message = f"{where}: {data_selector!r} is a {type(node).__name__}, expected a list"
        raise _content_error(message, path, page_no, node)
    bad = [type(item).__name__ for item in node if not isinstance(item, dict)]
    if bad:
        message = f"{where}: {len(bad)} item(s) are not objects ({bad[0]})"
        raise _content_error(message, path, page_no, node)
    return node


def _keys(body: Mapping[Any, Any]) -> str:
    return snippet(", ".join(sorted(str(key) for key in body)[:_KEYS_SHOWN]), 120)


def _content_error(message: str, path: str, page_no: int, shown: Any) -> PixleeContentError:
    return PixleeContentError(message, path=path, page=page_no, excerpt=snippet(repr(shown)))


class NextFlagPaginator:
    """Decides, page after page in order, whether a listing goes on (one listing, one object)."""

    def __init__(self, path: str, *, max_empty_pages: int) -> None:
        self.path = path
        self.max_empty_pages = max_empty_pages
        self._previous: Page | None = None
        self._empty_in_a_row = 0

    def has_next(self, page: Page) -> bool:
        """True when another page should be read after `page`; an error when the listing
        does not make sense (see the module docstring)."""
        where = f"GET {self.path} page {page.page}"
        if page.items and self._previous is not None and _same_items(page, self._previous):
            message = f"{where}: the same items as the page before; the listing does not advance"
            raise _content_error(message, self.path, page.page, page.items[:1])
        self._previous = page
        if not page.has_next:
            return False
        self._empty_in_a_row = 0 if page.items else self._empty_in_a_row + 1
        if self._empty_in_a_row > self.max_empty_pages:
            message = (
                f"{where}: `next` is still true after {self._empty_in_a_row} empty pages in a "
                "row; the listing does not end"
            )
            raise _content_error(message, self.path, page.page, [])
        return True


def _same_items(page: Page, previous: Page) -> bool:
    """Whether two pages hold the same items, however each body was read.

    A read page's `items` may be only the fields its reader kept: when both pages were read,
    different kept fields mean different items, and only equal ones are decoded whole to be
    sure. A page read and a page decoded (when the reader refused a body) compare whole.
    """
    if len(page.items) != len(previous.items):
        return False
    both_read = page.parsed is not None and previous.parsed is not None
    if both_read and page.items != previous.items:
        return False
    return _whole_items(page) == _whole_items(previous)


def _whole_items(page: Page) -> list[dict[str, Any]]:
    if page.parsed is None:
        return page.items
    whole: list[dict[str, Any]] = page.parsed.decoded()
    return whole


def iter_listing(
    fetch: Callable[[int], Page],
    paginator: NextFlagPaginator,
    *,
    start_page: int = 1,
    executor: ThreadPoolExecutor | None = None,
    window: Callable[[], int] | None = None,
) -> Iterator[Page]:
    """Pages from `start_page` while `paginator` says so; read ahead when given an executor."""
    if executor is not None and window is not None:
        yield from read_pages_ahead(
            fetch, paginator.has_next, executor=executor, window=window, start_page=start_page
        )
        return
    page_no = start_page
    while True:
        page = fetch(page_no)
        more = paginator.has_next(page)
        yield page
        if not more:
            return
        page_no += 1


def read_pages_ahead(
    fetch: Callable[[int], T],
    has_next: Callable[[T], bool],
    *,
    executor: ThreadPoolExecutor,
    window: Callable[[], int],
    start_page: int = 1,
) -> Iterator[T]:
    """Pages `start_page, start_page+1, …` in order, up to `window()` requested at once.

    Only `next` tells where a listing ends, so pages past the end may already be requested when
    the last page arrives: they are cancelled if not started, else dropped unread. A page's
    error is raised when that page's turn comes, so an error past the end is never seen.
    `has_next` judges each page before it is handed out, so a page it refuses never is.

    The window opens as the listing proves long (`ramp`): the first two pages one at a time
    (most albums and SKUs fit in one or two pages, and then nothing is wasted), then as many
    pages ahead as were read so far. A listing of n pages thus wastes fewer than about
    sqrt(2n) requests, and none when several albums already fill `window()`.
    """
    pending: deque[Future[T]] = deque()
    next_page = start_page
    consumed = 0
    try:
        while True:
            while len(pending) < min(max(1, window()), ramp(consumed)):
                pending.append(executor.submit(fetch, next_page))
                next_page += 1
            page = pending.popleft().result()
            consumed += 1
            more = has_next(page)
            yield page
            if not more:
                return
    finally:
        for future in pending:
            future.cancel()


def ramp(pages_read: int) -> int:
    """Pages a listing may have in flight after `pages_read` pages (see `read_pages_ahead`)."""
    return 1 if pages_read < 2 else pages_read
