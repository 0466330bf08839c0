"""Turn model objects into the JSON Pixlee sends, byte for byte the same for the same world.

A photo is serialized once into four byte fragments split around the three values that
differ between its placements (``album_photo_id``, ``album_id``, ``approved_on_date``).
Serving an item is then a join of seven short byte strings, which is what makes a page of 100
items cost microseconds instead of 100 ``json.dumps`` calls. The fragments are dropped
whenever the photo (or a product it carries) changes.

JSON is compact and ASCII-escaped (``\\u2728``), like the captured responses; the key order
is the capture's, with the three fields of newer payloads appended.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from .model import Album, Photo, Placement, Product

# The 82 keys of the real capture, in its order, then fields seen in newer SDK fixtures.
CAPTURE_MEDIA_KEYS: tuple[str, ...] = (
    "id",
    "photo_title",
    "latitude",
    "longitude",
    "tagged_at",
    "email_address",
    "instagram_followers",
    "twitter_followers",
    "avatar_url",
    "user_name",
    "connected_user_id",
    "source",
    "content_type",
    "data_file_name",
    "medium_url",
    "big_url",
    "thumbnail_url",
    "source_url",
    "media_id",
    "exist_in",
    "collect_term",
    "album_photo_id",
    "like_count",
    "share_count",
    "action_link",
    "action_link_text",
    "action_link_title",
    "action_link_photo",
    "updated_at",
    "is_starred",
    "approved",
    "archived",
    "is_flagged",
    "album_id",
    "unread_count",
    "collect_method",
    "title",
    "messaged",
    "has_permission",
    "awaiting_permission",
    "social_user_has_liked",
    "platform_link",
    "custom_order",
    "has_heavy_permission",
    "awaiting_heavy_permission",
    "permissioned_at",
    "heavy_permissioned_at",
    "permissioned_by_user_id",
    "locality",
    "country",
    "is_scheduled",
    "scheduler",
    "engagement_rate",
    "notes",
    "flag_reasons",
    "marked_as_spam",
    "uploader_additional_fields",
    "is_influencer",
    "submitter_link",
    "alt_text",
    "bounding_box_products",
    "tag_album_ids",
    "mentions",
    "native_likes",
    "native_comments",
    "native_retweets",
    "native_favorites",
    "native_shares",
    "native_followers",
    "language",
    "deleted_at",
    "video_settings",
    "connected_user_social_id",
    "subtype",
    "narrow_district",
    "created_at",
    "approved_on_date",
    "tagged_usernames",
    "resized",
    "page_id",
    "products",
    "pixlee_cdn_photos",
)
NEWER_MEDIA_KEYS: tuple[str, ...] = ("submitted_at", "native_views", "time_based_products")
MEDIA_KEYS: tuple[str, ...] = CAPTURE_MEDIA_KEYS + NEWER_MEDIA_KEYS

# Keys that belong to the placement, not the photo: they cannot be edited as photo fields.
PLACEMENT_KEYS = frozenset({"album_photo_id", "album_id", "approved", "approved_on_date", "id"})

_APID, _ALBUM, _APPROVED = -7_770_001, -7_770_002, -7_770_003
_SPLITS = (
    b'"album_photo_id":%d' % _APID,
    b'"album_id":%d' % _ALBUM,
    b'"approved_on_date":%d' % _APPROVED,
)
_CDN_SIZES = (
    ("small_url", "thumb"),
    ("medium_url", "medium"),
    ("large_url", "xl"),
    ("original_url", "original"),
    ("square_medium_url", "square_medium"),
    ("attributed_medium_url", "attributed_medium"),
)


def dumps(value: Any) -> bytes:
    """Compact, ASCII-escaped JSON bytes: the one encoder every response uses."""
    return json.dumps(value, separators=(",", ":")).encode("ascii")


def product_dict(product: Product, photo: Photo, tagged_at: int) -> dict[str, Any]:
    """A ``products[]`` entry of a media object, as the capture shows it."""
    product_placement = next(
        (p.album_photo_id for p in photo.placements if p.album_id == product.album_id), None
    )
    item: dict[str, Any] = {
        "id": product.id,
        "product_album_photo_id": product_placement,
        "photo_id": photo.id,
        "album_id": product.album_id,
        "link_text": None,
        "link": product.link,
        "image": product.image,
        "image_thumb": f"https://static.pixlee.com/products/{product.id}/thumb/{product.id}.jpg",
        "image_thumb_square": (
            f"https://static.pixlee.com/products/{product.id}/thumb_square/{product.id}.jpg"
        ),
        "title": product.title,
        "sku": product.sku,
        "description": product.description,
        "price": product.price,
        "stock": product.stock,
        "currency": product.currency,
        "category": None,
        "extra_urls": {},
        "custom_cta_photo": "",
        "link_valid": True,
        "total_reviews": product.num_reviews or None,
        "average_rating": product.average_rating or None,
        "datc_override": None,
        "reviews_info": {
            "num_reviews": product.num_reviews,
            "average_rating": product.average_rating,
            "reviews": [],
        },
        "product_region_links": [
            {
                "url": product.link,
                "region_name": name,
                "region_is_default": is_default,
                "region_stock": stock,
            }
            for name, is_default, stock in product.regions
        ],
        "product_tagged_at": tagged_at,
        "sales_price": product.sales_price,
        "sales_start_date": product.sales_start_date,
        "sales_end_date": product.sales_end_date,
    }
    if product.extra:
        item.update(product.extra)
    return item


def _media_urls(photo: Photo) -> dict[str, Any]:
    """The URL fields; videos have an .mp4 source and no Pixlee CDN photos (as in fixtures)."""
    pid, token = photo.id, photo.token
    if photo.content_type == "video":
        thumb = f"https://static.pxlecdn.com/photos/{pid}/thumbnail/{token}.jpg"
        return {
            "data_file_name": None,
            "medium_url": thumb,
            "big_url": thumb,
            "thumbnail_url": thumb,
            "source_url": f"https://static.pxlecdn.com/photos/{pid}/original/{token}.mp4",
            "pixlee_cdn_photos": {key: "" for key, _ in _CDN_SIZES},
        }
    if photo.source == "instagram":
        base = f"https://scontent.cdninstagram.com/vp/{token}/{photo.media_key[:8]}/t51.2885-15"
        src = f"{base}/sh0.08/e35/p640x640/{photo.media_key}_n.jpg"
        urls = {
            "medium_url": f"{base}/e35/p320x320/{photo.media_key}_n.jpg",
            "big_url": src,
            "thumbnail_url": f"{base}/e35/s150x150/{photo.media_key}_n.jpg",
            "source_url": src,
        }
    else:
        original = f"https://static.pixlee.com/photos/{pid}/original/{token}.jpg"
        urls = {
            "medium_url": f"https://static.pixlee.com/photos/{pid}/medium/{token}.jpg",
            "big_url": original,
            "thumbnail_url": f"https://static.pixlee.com/photos/{pid}/thumb/{token}.jpg",
            "source_url": photo.upload_uri or original,
        }
    return {
        "data_file_name": f"{token}.jpg",
        **urls,
        "pixlee_cdn_photos": {
            key: f"https://static.pixlee.com/photos/{pid}/{size}/{token}.jpg"
            for key, size in _CDN_SIZES
        },
    }


def _platform_link(photo: Photo) -> str:
    user, key = photo.user.user_name, photo.media_key
    return {
        "instagram": f"https://www.instagram.com/p/{key[:11]}/",
        "tiktok": f"https://www.tiktok.com/@{user}/video/{photo.id}",
        "twitter": f"https://twitter.com/{user}/status/{photo.id}",
        "youtube": f"https://www.youtube.com/watch?v={key[:11]}",
        "facebook": f"https://www.facebook.com/{user}/posts/{photo.id}",
    }.get(photo.source, "")


def photo_dict(
    photo: Photo, products: dict[int, Product], placement: Placement | None
) -> dict[str, Any]:
    """The full media object; with ``placement=None`` the per-placement values are markers."""
    user = photo.user
    urls = _media_urls(photo)
    followers = user.instagram_followers
    engagement = (
        round((photo.native_likes + photo.native_comments) / followers, 14) if followers else 0
    )
    product_items = [
        product_dict(products[product_id], photo, tagged_at)
        for product_id, tagged_at in photo.product_tags
        if product_id in products
    ]
    is_video = photo.content_type == "video"
    mentions = photo.mentions
    item: dict[str, Any] = {
        "id": photo.id,
        "photo_title": photo.title,
        "latitude": user.latitude,
        "longitude": user.longitude,
        "tagged_at": photo.tagged_at,
        "email_address": user.email_address,
        "instagram_followers": followers,
        "twitter_followers": user.twitter_followers,
        "avatar_url": (
            f"https://static.pixlee.com/users/{user.connected_user_id}/original/"
            f"{user.avatar_token}.jpg"
        ),
        "user_name": user.user_name,
        "connected_user_id": user.connected_user_id,
        "source": photo.source,
        "content_type": photo.content_type,
        "data_file_name": urls["data_file_name"],
        "medium_url": urls["medium_url"],
        "big_url": urls["big_url"],
        "thumbnail_url": urls["thumbnail_url"],
        "source_url": urls["source_url"],
        "media_id": photo.media_key if photo.source != "desktop" else None,
        "exist_in": sum(1 for p in photo.placements if p.visible) or 1,
        "collect_term": photo.collect_term,
        "album_photo_id": placement.album_photo_id if placement else _APID,
        "like_count": photo.like_count,
        "share_count": photo.share_count,
        "action_link": None,
        "action_link_text": None,
        "action_link_title": None,
        "action_link_photo": None,
        "updated_at": photo.updated_at,
        "is_starred": photo.is_starred,
        "approved": True,
        "archived": False,
        "is_flagged": photo.is_flagged,
        "album_id": placement.album_id if placement else _ALBUM,
        "unread_count": 0,
        "collect_method": photo.collect_method,
        "title": photo.title,
        "messaged": False,
        "has_permission": photo.has_permission,
        "awaiting_permission": False,
        "social_user_has_liked": False,
        "platform_link": _platform_link(photo),
        "custom_order": None,
        "has_heavy_permission": False,
        "awaiting_heavy_permission": False,
        "permissioned_at": photo.permissioned_at,
        "heavy_permissioned_at": None,
        "permissioned_by_user_id": None,
        "locality": user.locality,
        "country": user.country,
        "is_scheduled": False,
        "scheduler": "{}",
        "engagement_rate": engagement,
        "notes": None,
        "flag_reasons": {},
        "marked_as_spam": False,
        "uploader_additional_fields": {},
        "is_influencer": followers >= 100_000,
        "submitter_link": "",
        "alt_text": photo.alt_text,
        "bounding_box_products": [
            {"x": 0, "y": 0, "width": 640, "height": 800, "aspect_ratio": 1, "product_id": p["id"]}
            for p in product_items
        ],
        "tag_album_ids": list(photo.category_album_ids),
        "mentions": list(mentions) if mentions is not None else None,
        "native_likes": photo.native_likes,
        "native_comments": photo.native_comments,
        "native_retweets": 0,
        "native_favorites": 0,
        "native_shares": photo.native_shares,
        "native_followers": followers,
        "language": None,
        "deleted_at": None,
        "video_settings": {"start": 0, "end": photo.video_seconds} if is_video else {},
        "connected_user_social_id": "",
        "subtype": None,
        "narrow_district": None,
        "created_at": photo.created_at,
        "approved_on_date": placement.approved_on_date if placement else _APPROVED,
        "tagged_usernames": list(mentions or []),
        "resized": not is_video,
        "page_id": "",
        "products": product_items,
        "pixlee_cdn_photos": urls["pixlee_cdn_photos"],
        "submitted_at": photo.created_at // 1000 * 1000,
        "native_views": photo.native_views,
        "time_based_products": (
            [{"timestamp": 5 * (i + 1), "product_id": p["id"]} for i, p in enumerate(product_items)]
            if is_video
            else []
        ),
    }
    if photo.overrides:
        item.update(photo.overrides)
    return item


def photo_fragments(
    photo: Photo, products: dict[int, Product]
) -> tuple[bytes, bytes, bytes, bytes]:
    """The photo's JSON split around its per-placement values (cached on the photo)."""
    if photo.fragments is None:
        raw = dumps(photo_dict(photo, products, None))
        head, rest = raw.split(_SPLITS[0], 1)
        middle, rest = rest.split(_SPLITS[1], 1)
        tail_a, tail_b = rest.split(_SPLITS[2], 1)
        photo.fragments = (
            head + b'"album_photo_id":',
            middle + b'"album_id":',
            tail_a + b'"approved_on_date":',
            tail_b,
        )
    return photo.fragments


def placement_bytes(placement: Placement, products: dict[int, Product]) -> bytes:
    """One served media item as JSON bytes."""
    a, b, c, d = photo_fragments(placement.photo, products)
    return b"".join(
        (
            a,
            str(placement.album_photo_id).encode(),
            b,
            str(placement.album_id).encode(),
            c,
            str(placement.approved_on_date).encode(),
            d,
        )
    )


def album_dict(album: Album, num_photos: int, num_inbox: int) -> dict[str, Any]:
    """An album as GET /albums lists it: the 2016 POST /albums field set, epoch-ms times."""
    return {
        "id": album.id,
        "title": album.title,
        "user_id": album.user_id,
        "account_id": album.account_id,
        "album_type": album.album_type,
        "public_contribution": album.album_type == "standard",
        "public_viewing": True,
        "moderation": True,
        "live_update": album.album_type != "product",
        "description": album.description,
        "num_photos": num_photos,
        "num_inbox_photos": num_inbox,
        "created_at": album.created_at,
        "updated_at": album.updated_at,
        "deleted_at": None,
        "display_options": {"header_text": album.title, "show_captions": True, "layout": "grid"},
    }


def url_encoded(url: str) -> str:
    """Product ``link``/``image`` are URL-*encoded* strings in real payloads."""
    return quote(url, safe="")
