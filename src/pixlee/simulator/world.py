"""The living account: what is served right now, how it changes, and the ground truth.

The world knows nothing about HTTP. The API layer asks it for pages (as ready JSON bytes) and
hands it validated writes; tests mutate it through the same object to reproduce what a real
account does while a client reads it (new content at the head, edits, removals, product
changes). One re-entrant lock makes every read and mutation atomic, so a page is always cut
from one consistent state even while churn runs in its own thread.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterable
from typing import Any

from .config import SimulatorConfig
from .generate import BASE_EPOCH_MS, generate, new_photo
from .model import Album, Photo, Placement, Product, User
from .query import Predicate, SortSpec, apply_filters, sort_placements
from .serialize import (
    MEDIA_KEYS,
    PLACEMENT_KEYS,
    album_dict,
    dumps,
    photo_fragments,
    placement_bytes,
    url_encoded,
)

# Media fields stored on the photo itself (filters and sorts read them); other editable
# media fields are kept as per-photo overrides applied at serialization.
_PHOTO_ATTRS = frozenset(
    {
        "title",
        "source",
        "content_type",
        "collect_term",
        "collect_method",
        "created_at",
        "tagged_at",
        "native_likes",
        "native_comments",
        "native_shares",
        "native_views",
        "like_count",
        "share_count",
        "has_permission",
        "permissioned_at",
        "is_starred",
        "is_flagged",
        "mentions",
        "alt_text",
    }
)
_PRODUCT_ATTRS = frozenset(
    {
        "title",
        "description",
        "price",
        "currency",
        "stock",
        "link",
        "image",
        "sales_price",
        "sales_start_date",
        "sales_end_date",
    }
)
_VIEW_CACHE_LIMIT = 64


class World:
    """The simulated account. Thread-safe; every public method takes the lock."""

    def __init__(self, config: SimulatorConfig) -> None:
        self._config = config
        self._lock = threading.RLock()
        account = generate(config)
        self.account_id = account.account_id
        self._owner_user_id = account.owner_user_id
        self._albums = account.albums
        self._products = account.products
        self._photos = account.photos
        self._placements = account.placements
        self._users = account.users
        self._users_by_id = {u.connected_user_id: u for u in account.users}
        self._users_by_email = {u.email_address: u for u in account.users if u.email_address}
        self._skus = {p.sku: p for p in account.products.values()}
        self._uploads: dict[tuple[int, str], Placement] = {}
        self._next_album_id = account.next_album_id
        self._next_photo_id = account.next_photo_id
        self._next_album_photo_id = account.next_album_photo_id
        self._next_product_id = account.next_product_id
        self._next_user_id = 90_000_000
        self._rng = random.Random(config.seed * 7919 + 1)
        self._counts: dict[int, tuple[int, int, int]] = {}
        self._churn_stop = threading.Event()
        self._churn_thread: threading.Thread | None = None
        self._closing = threading.Event()
        # set once `prewarm` has serialized every photo (benchmarks wait for it: the warm-up
        # thread competes with requests for the simulator's GIL)
        self.prewarmed = threading.Event()
        self.mutations = 0

    # ------------------------------------------------------------------ time and ids
    def _now_ms(self) -> int:
        return int(self._config.now() * 1000)

    def _new_album_photo_id(self) -> int:
        self._next_album_photo_id += 1 + self._rng.randrange(3)
        return self._next_album_photo_id

    def _new_photo_id(self) -> int:
        self._next_photo_id += 1 + self._rng.randrange(3)
        return self._next_photo_id

    # ------------------------------------------------------------------ reads for the API
    def album(self, album_id: int) -> Album | None:
        with self._lock:
            return self._albums.get(album_id)

    def product_by_sku(self, sku: str) -> Product | None:
        with self._lock:
            return self._skus.get(sku)

    def product_by_name(self, name: str) -> Product | None:
        with self._lock:
            return next((p for p in self._products.values() if p.title == name), None)

    def _view(
        self, album: Album, spec: SortSpec, filters_key: str, preds: list[Predicate]
    ) -> list[Placement]:
        """The album's visible placements, filtered and sorted, cached until it changes."""
        cache_key = (spec, filters_key)
        view = album.views.get(cache_key)
        if view is None:
            if len(album.views) >= _VIEW_CACHE_LIMIT:
                album.views.clear()
            visible = [p for p in album.placements if p.visible]
            view = sort_placements(apply_filters(visible, preds), spec, self._config.seed)
            album.views[cache_key] = view
        return view

    def page(
        self,
        album_id: int,
        spec: SortSpec,
        filters_key: str,
        preds: list[Predicate],
        page: int,
        per_page: int,
    ) -> tuple[list[bytes], bool]:
        """One page of an album as item JSON bytes, and whether more pages exist."""
        with self._lock:
            album = self._albums[album_id]
            view = self._view(album, spec, filters_key, preds)
            start = (page - 1) * per_page
            chunk = view[start : start + per_page]
            products = self._products
            return [placement_bytes(p, products) for p in chunk], len(view) > start + per_page

    def albums_page(self, page: int, per_page: int) -> tuple[list[dict[str, Any]], bool]:
        """One page of GET /albums (albums ordered by id)."""
        with self._lock:
            ids = sorted(self._albums)
            start = (page - 1) * per_page
            chunk = ids[start : start + per_page]
            return [self._album_json(self._albums[i]) for i in chunk], len(ids) > start + per_page

    def _album_json(self, album: Album) -> dict[str, Any]:
        cached = self._counts.get(album.id)
        if cached is None or cached[0] != album.version:
            visible = sum(1 for p in album.placements if p.visible)
            inbox = sum(1 for p in album.placements if not p.approved and not p.photo.deleted)
            cached = (album.version, visible, inbox)
            self._counts[album.id] = cached
        return album_dict(album, cached[1], cached[2])

    def media_bytes(self, album_photo_id: int) -> bytes | None:
        """GET /media/{id}: the item if it is currently served, else None."""
        with self._lock:
            placement = self._placements.get(album_photo_id)
            if placement is None or not placement.visible:
                return None
            return placement_bytes(placement, self._products)

    # ------------------------------------------------------------------ ground truth
    def truth_albums(self) -> list[dict[str, Any]]:
        """Every album GET /albums lists, as served (fresh)."""
        with self._lock:
            return [self._album_json(self._albums[i]) for i in sorted(self._albums)]

    def truth_media(self, album_ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
        """Every approved item of the albums, as the photos endpoint serves it, default order."""
        with self._lock:
            ids = sorted(self._albums) if album_ids is None else list(album_ids)
            out: list[dict[str, Any]] = []
            for album_id in ids:
                album = self._albums.get(album_id)
                if album is None:
                    raise KeyError(f"no album {album_id}")
                for placement in self._view(album, SortSpec(), "", []):
                    out.append(json.loads(placement_bytes(placement, self._products)))
            return out

    def truth_sku_media(self, sku: str) -> list[dict[str, Any]]:
        """What GET /albums/from_sku?sku= serves over all pages."""
        with self._lock:
            product = self._skus.get(sku)
            if product is None:
                raise KeyError(f"no product with sku {sku!r}")
            return self.truth_media([product.album_id])

    def skus(self) -> list[str]:
        with self._lock:
            return sorted(self._skus)

    def removed_album_photo_ids(self) -> set[int]:
        """Album photos that were served at some point (since generation) and are not now."""
        with self._lock:
            return {
                p.album_photo_id
                for p in self._placements.values()
                if p.was_visible and not p.visible
            }

    def dump(self) -> bytes:
        """The whole served account as one JSON document (determinism checks)."""
        with self._lock:
            products = [self._product_json(p) for _, p in sorted(self._products.items())]
            inbox = sorted(p.album_photo_id for p in self._placements.values() if not p.approved)
            return dumps(
                {
                    "account_id": self.account_id,
                    "albums": self.truth_albums(),
                    "products": products,
                    "inbox": inbox,
                    "media": self.truth_media(),
                }
            )

    def _product_json(self, product: Product) -> dict[str, Any]:
        return {
            "id": product.id,
            "sku": product.sku,
            "title": product.title,
            "price": product.price,
            "album_id": product.album_id,
            "regions": product.regions,
            **product.extra,
        }

    # ------------------------------------------------------------------ mutation helpers
    def _touch(self, photo: Photo, now_ms: int | None = None) -> None:
        """A photo changed: drop its cached JSON, move updated_at, invalidate album views."""
        now = self._now_ms() if now_ms is None else now_ms
        photo.fragments = None
        photo.updated_at = max(now, photo.updated_at + 1)
        for placement in photo.placements:
            self._touch_album(self._albums[placement.album_id], now)
        self.mutations += 1

    def _touch_album(self, album: Album, now_ms: int) -> None:
        album.version += 1
        album.views.clear()
        album.updated_at = max(album.updated_at, now_ms)

    def _place(self, photo: Photo, album_id: int, approved: bool, at_ms: int) -> Placement:
        placement = Placement(self._new_album_photo_id(), album_id, photo, approved, at_ms)
        placement.was_visible = placement.visible
        photo.placements.append(placement)
        self._albums[album_id].placements.append(placement)
        self._placements[placement.album_photo_id] = placement
        return placement

    def _placement(self, album_photo_id: int) -> Placement:
        placement = self._placements.get(album_photo_id)
        if placement is None:
            raise KeyError(f"no album photo {album_photo_id}")
        return placement

    def _tag_product(self, photo: Photo, product: Product, approved: bool, now: int) -> None:
        if any(pid == product.id for pid, _ in photo.product_tags):
            return
        photo.product_tags.append((product.id, now))
        self._place(photo, product.album_id, approved, now)

    def _tag_category(self, photo: Photo, album_id: int, approved: bool, now: int) -> None:
        if album_id in photo.category_album_ids:
            return
        photo.category_album_ids.append(album_id)
        self._place(photo, album_id, approved, now)

    def _set_fields(self, photo: Photo, fields: dict[str, Any]) -> None:
        for key, value in fields.items():
            if key in PLACEMENT_KEYS:
                raise ValueError(f"{key} belongs to the album photo and cannot be edited")
            if key == "photo_title":
                key = "title"
            if key not in MEDIA_KEYS:
                raise ValueError(f"unknown media field: {key}")
            if key in _PHOTO_ATTRS:
                setattr(photo, key, value)
            elif key != "updated_at":
                photo.overrides = {**(photo.overrides or {}), key: value}

    # ------------------------------------------------------------------ the living world
    def add_media(self, album_id: int, count: int = 1, **field_overrides: Any) -> list[int]:
        """New approved content at the head of an album; returns the new album_photo_ids."""
        with self._lock:
            album = self._albums.get(album_id)
            if album is None:
                raise KeyError(f"no album {album_id}")
            ids: list[int] = []
            for _ in range(count):
                now = self._now_ms()
                photo = new_photo(
                    self._rng,
                    self._new_photo_id(),
                    self._rng.choice(self._users),
                    now,
                    self._config.video_ratio,
                )
                photo.tagged_at = now - 60_000
                photo.updated_at = now
                self._set_fields(photo, field_overrides)
                self._photos[photo.id] = photo
                ids.append(self._attach(photo, album, True, now))
                self._touch(photo, now)
            return ids

    def _attach(self, photo: Photo, album: Album, approved: bool, now: int) -> int:
        """Place a new photo in an album, honouring product/category album semantics."""
        if album.album_type == "product" and album.product_id is not None:
            self._tag_product(photo, self._products[album.product_id], approved, now)
            return photo.placements[-1].album_photo_id
        if album.album_type == "category":
            self._tag_category(photo, album.id, approved, now)
            return photo.placements[-1].album_photo_id
        return self._place(photo, album.id, approved, now).album_photo_id

    def edit_media(self, album_photo_id: int, **fields: Any) -> None:
        """Change media fields (shared by all placements of the photo); updated_at moves."""
        with self._lock:
            photo = self._placement(album_photo_id).photo
            explicit_updated = fields.get("updated_at")
            self._set_fields(photo, fields)
            self._touch(photo)
            if isinstance(explicit_updated, int):
                photo.updated_at = explicit_updated

    def remove_media(self, album_photo_id: int, how: str = "unapprove") -> None:
        """``unapprove``: this placement leaves its album; ``delete``: the photo everywhere."""
        with self._lock:
            placement = self._placement(album_photo_id)
            if how == "unapprove":
                placement.approved = False
            elif how == "delete":
                placement.photo.deleted = True
            else:
                raise ValueError("how is 'unapprove' or 'delete'")
            self._touch(placement.photo)

    def restore_media(self, album_photo_id: int) -> None:
        """Undo a removal: the placement is approved and the photo undeleted."""
        with self._lock:
            placement = self._placement(album_photo_id)
            placement.approved = True
            placement.photo.deleted = False
            placement.was_visible = True
            self._touch(placement.photo)

    def update_product(self, product_id: int, **fields: Any) -> None:
        """Change a product; every photo carrying it is re-serialized and its updated_at moves."""
        with self._lock:
            product = self._products.get(product_id)
            if product is None:
                raise KeyError(f"no product {product_id}")
            self._apply_product_fields(product, fields)

    def _apply_product_fields(self, product: Product, fields: dict[str, Any]) -> None:
        for key, value in fields.items():
            if key in ("id", "sku", "album_id"):
                raise ValueError(f"product {key} cannot be changed")
            if key in _PRODUCT_ATTRS:
                setattr(product, key, value)
            else:
                product.extra[key] = value
        now = self._now_ms()
        for photo in self._photos.values():
            if any(pid == product.id for pid, _ in photo.product_tags):
                self._touch(photo, now)

    # ------------------------------------------------------------------ writes from the API
    def _user_for(self, email: str | None, connected_user_id: int | None, name: str | None) -> User:
        if connected_user_id is not None:
            user = self._users_by_id.get(connected_user_id)
            if user is None:
                user = self._new_user(connected_user_id, name, email)
            return user
        assert email is not None
        user = self._users_by_email.get(email)
        if user is None:
            self._next_user_id += 1
            user = self._new_user(self._next_user_id, name, email)
        return user

    def _new_user(self, user_id: int, name: str | None, email: str | None) -> User:
        user = User(
            user_id,
            name or f"user{user_id}",
            email,
            f"{user_id:020x}",
            0,
            None,
            None,
            None,
            None,
            None,
        )
        self._users_by_id[user_id] = user
        if email:
            self._users_by_email[email] = user
        return user

    def create_media(
        self,
        *,
        album_id: int,
        title: str,
        photo_uri: str,
        approved: bool,
        email: str | None,
        connected_user_id: int | None,
        username: str | None,
        content_type: str,
        product_skus: list[str],
        category_names: list[str],
        source: str = "api",
    ) -> tuple[int, int]:
        """POST /media: idempotent per (album, photo_uri); a re-post only adds new tags."""
        with self._lock:
            album = self._albums[album_id]
            now = self._now_ms()
            existing = self._uploads.get((album_id, photo_uri))
            if existing is not None:
                photo = existing.photo
            else:
                user = self._user_for(email, connected_user_id, username)
                photo = new_photo(self._rng, self._new_photo_id(), user, now, 0.0, source)
                photo.content_type = content_type
                photo.title = title
                photo.upload_uri = photo_uri
                photo.tagged_at = now
                photo.updated_at = now
                photo.collect_method = "api" if source == "api" else "upload"
                photo.collect_term = None
                self._photos[photo.id] = photo
                self._attach(photo, album, approved, now)
                existing = photo.placements[-1]
                self._uploads[(album_id, photo_uri)] = existing
            for sku in product_skus:
                product = self._skus.get(sku)
                if product is not None:
                    self._tag_product(photo, product, existing.approved, now)
            for name in category_names:
                category = next(
                    (
                        a
                        for a in self._albums.values()
                        if a.album_type == "category" and a.title == name
                    ),
                    None,
                )
                if category is not None:
                    self._tag_category(photo, category.id, existing.approved, now)
            self._touch(photo, now)
            return existing.album_photo_id, photo.user.connected_user_id

    def create_album(self, title: str, album_type: str) -> Album:
        """POST /albums for a standard or category album."""
        with self._lock:
            return self._new_album(title, album_type, None)

    def _new_album(self, title: str, album_type: str, product_id: int | None) -> Album:
        now = self._now_ms()
        album = Album(
            self._next_album_id,
            title,
            album_type,
            self._owner_user_id,
            self.account_id,
            None,
            now,
            now,
            product_id,
        )
        self._next_album_id += 1
        self._albums[album.id] = album
        self.mutations += 1
        return album

    def upsert_product(self, title: str, fields: dict[str, Any]) -> tuple[Album, bool]:
        """POST /albums with a product: create it (and its album) or update it by sku."""
        with self._lock:
            sku = str(fields["sku"])
            product = self._skus.get(sku)
            updates = {
                "title": fields.get("name", title),
                "price": fields.get("price"),
                "stock": fields.get("stock"),
                "currency": fields.get("currency"),
                "link": url_encoded(str(fields.get("buy_now_link_url", ""))),
                "image": url_encoded(str(fields.get("product_photo", ""))),
            }
            extra = {
                k: v
                for k, v in fields.items()
                if k not in ("sku", "name", "price", "stock", "currency")
                and k not in ("buy_now_link_url", "product_photo")
            }
            if product is not None:
                known = {k: v for k, v in updates.items() if k in fields or k == "title"}
                self._apply_product_fields(product, {**known, **extra})
                return self._albums[product.album_id], False
            self._next_product_id += 1
            album = self._new_album(str(updates["title"]), "product", self._next_product_id)
            product = Product(
                id=self._next_product_id,
                sku=sku,
                title=str(updates["title"]),
                description="",
                price=updates["price"],
                currency=updates["currency"],
                stock=updates["stock"],
                link=str(updates["link"]),
                image=str(updates["image"]),
                album_id=album.id,
                regions=[("United States", True, 1)],
                num_reviews=0,
                average_rating=0,
                sales_price=None,
                sales_start_date=None,
                sales_end_date=None,
                extra=extra,
            )
            self._products[product.id] = product
            self._skus[sku] = product
            return album, True

    def album_json(self, album_id: int) -> dict[str, Any]:
        with self._lock:
            return self._album_json(self._albums[album_id])

    # ------------------------------------------------------------------ warm-up
    def prewarm(self, stop: threading.Event | None = None, batch: int = 256) -> int:
        """Serialize every photo ahead of the first request, in small locked batches so
        requests interleave; returns how many photos it serialized."""
        with self._lock:
            photos = list(self._photos.values())
        done = 0
        for start in range(0, len(photos), batch):
            if stop is not None and stop.is_set():
                return done
            with self._lock:
                for photo in photos[start : start + batch]:
                    if photo.fragments is None:
                        photo_fragments(photo, self._products)
                        done += 1
        self.prewarmed.set()
        return done

    def start_prewarm(self) -> threading.Thread:
        """Run ``prewarm`` in a daemon thread (``close`` stops it)."""
        thread = threading.Thread(
            target=self.prewarm, args=(self._closing,), name="pixlee-sim-warm", daemon=True
        )
        thread.start()
        return thread

    # ------------------------------------------------------------------ churn
    def churn_once(self) -> str:
        """One random mutation (add 50%, edit 30%, remove 20%); returns what it did."""
        with self._lock:
            rng = self._rng
            standard = [a for a in self._albums.values() if a.album_type == "standard"]
            if not standard:
                return "none"
            album = standard[rng.randrange(len(standard))]
            roll = rng.random()
            visible = [p for p in album.placements if p.visible]
            if roll < 0.5 or not visible:
                self.add_media(album.id)
                return "add"
            target = visible[rng.randrange(len(visible))]
            if roll < 0.8:
                self.edit_media(target.album_photo_id, native_likes=target.photo.native_likes + 1)
                return "edit"
            self.remove_media(target.album_photo_id, "unapprove")
            return "remove"

    def start_churn(self, per_second: float) -> None:
        """Mutate the world by itself at a rate, in a daemon thread (seeded choices)."""
        self.stop_churn()
        if per_second <= 0:
            return
        self._churn_stop = threading.Event()
        stop, interval = self._churn_stop, 1.0 / per_second

        def run() -> None:
            while not stop.wait(interval):
                self.churn_once()

        self._churn_thread = threading.Thread(target=run, name="pixlee-sim-churn", daemon=True)
        self._churn_thread.start()

    def close(self) -> None:
        """Stop the background threads (churn, warm-up)."""
        self._closing.set()
        self.stop_churn()

    def stop_churn(self) -> None:
        if self._churn_thread is not None:
            self._churn_stop.set()
            self._churn_thread.join(timeout=5)
            self._churn_thread = None

    @property
    def base_epoch_ms(self) -> int:
        return BASE_EPOCH_MS
