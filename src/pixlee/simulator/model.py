"""The simulated account's data model: users, products, albums, photos and album photos.

Pixlee separates a *photo* (the piece of content: caption, author, URLs, counters, product
tags) from an *album photo* (that photo placed in one album, with its own id and approval).
The model keeps that split so that one photo can sit in a standard album, in the album of
every product it is tagged with and in its category albums, each time under another
``album_photo_id`` — exactly the identity rules a client has to get right.

Objects are slotted and hold only what cannot be derived, because a 200,000-item account has
to fit comfortably in memory; the full ~85-field JSON is produced on demand by
``serialize.py`` and cached as bytes on the photo.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class User:
    """A content creator (the ``connected_user``)."""

    connected_user_id: int
    user_name: str
    email_address: str | None
    avatar_token: str
    instagram_followers: int
    twitter_followers: int | None
    latitude: float | None
    longitude: float | None
    locality: str | None
    country: str | None


@dataclass(slots=True)
class Product:
    """A catalogue product; it owns one product album."""

    id: int
    sku: str
    title: str
    description: str
    price: float | None
    currency: str | None
    stock: int | None
    link: str
    image: str
    album_id: int
    regions: list[tuple[str, bool, int]]
    num_reviews: int
    average_rating: float
    sales_price: float | None
    sales_start_date: int | None
    sales_end_date: int | None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Placement:
    """An album photo: a photo in one album, the unit the photos endpoint serves."""

    album_photo_id: int
    album_id: int
    photo: Photo
    approved: bool
    approved_on_date: int
    was_visible: bool = False

    @property
    def visible(self) -> bool:
        """Served by the API: approved and the photo not deleted."""
        return self.approved and not self.photo.deleted


@dataclass(slots=True)
class Photo:
    """A piece of content, shared by all its placements."""

    id: int
    user: User
    source: str
    content_type: str
    title: str
    token: str
    media_key: str
    collect_term: str | None
    collect_method: str
    created_at: int
    tagged_at: int
    updated_at: int
    native_likes: int
    native_comments: int
    native_shares: int
    native_views: int
    like_count: int
    share_count: int
    has_permission: bool
    permissioned_at: int | None
    is_starred: bool
    is_flagged: bool
    mentions: list[str] | None
    alt_text: str
    video_seconds: int
    product_tags: list[tuple[int, int]] = field(default_factory=list)
    category_album_ids: list[int] = field(default_factory=list)
    placements: list[Placement] = field(default_factory=list)
    deleted: bool = False
    upload_uri: str | None = None
    overrides: dict[str, Any] | None = None
    fragments: tuple[bytes, bytes, bytes, bytes] | None = None


@dataclass(slots=True)
class Album:
    """An album of one of the three Pixlee album types."""

    id: int
    title: str
    album_type: str
    user_id: int
    account_id: int
    description: str | None
    created_at: int
    updated_at: int
    product_id: int | None = None
    placements: list[Placement] = field(default_factory=list)
    version: int = 0
    views: dict[Any, list[Placement]] = field(default_factory=dict)
