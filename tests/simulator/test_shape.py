"""Envelopes and the media object's shape, against the real capture's fields and types."""

from __future__ import annotations

import json

import requests

from pixlee.simulator import Simulator

from .conftest import all_pages, get, standard_album

# The real capture's 82 keys in order (fixtures/pixlee/album_photos.raegar_capture.json).
CAPTURE_KEYS = [
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
]
PRODUCT_KEYS = [
    "id",
    "product_album_photo_id",
    "photo_id",
    "album_id",
    "link_text",
    "link",
    "image",
    "image_thumb",
    "image_thumb_square",
    "title",
    "sku",
    "description",
    "price",
    "stock",
    "currency",
    "category",
    "extra_urls",
    "custom_cta_photo",
    "link_valid",
    "total_reviews",
    "average_rating",
    "datc_override",
    "reviews_info",
    "product_region_links",
    "product_tagged_at",
    "sales_price",
    "sales_start_date",
    "sales_end_date",
]


def test_photos_envelope_is_the_captured_one(sim: Simulator, http: requests.Session) -> None:
    album_id = standard_album(sim)
    response = get(http, sim, f"/albums/{album_id}/photos", per_page=5)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert list(body) == [
        "account_id", "album_id", "page", "per_page", "total", "next", "data",
        "message", "status", "sortType",
    ]  # fmt: skip
    assert body["album_id"] == album_id
    assert (body["page"], body["per_page"], body["total"], body["next"]) == (1, 5, 5, True)
    assert body["message"] == "Successfully returned album photos"
    assert (body["status"], body["sortType"]) == (200, "approved_time")
    assert body["data"] == sim.truth_media([album_id])[:5]


def test_media_objects_have_the_capture_shape(sim: Simulator) -> None:
    items = sim.truth_media()
    assert len(items) > 300
    for item in items:
        assert list(item)[:82] == CAPTURE_KEYS
        assert list(item)[82:] == ["submitted_at", "native_views", "time_based_products"]
        for key in ("created_at", "updated_at", "tagged_at", "approved_on_date"):
            assert isinstance(item[key], int) and item[key] > 1_000_000_000_000  # epoch ms
        assert item["approved"] is True
        for product in item["products"]:
            assert list(product) == PRODUCT_KEYS
            assert product["link"].startswith("https%3A%2F%2F")  # URL-encoded, as captured
            assert product["product_region_links"]
    videos = [i for i in items if i["content_type"] == "video"]
    images = [i for i in items if i["content_type"] == "image"]
    assert 0.08 < len(videos) / len(items) < 0.25
    for video in videos:
        assert set(video["pixlee_cdn_photos"].values()) == {""}
        assert video["source_url"].endswith(".mp4")
        assert video["video_settings"]["end"] > 0
    for image in images:
        assert all(v.startswith("https://") for v in image["pixlee_cdn_photos"].values())
    captions = [i["title"] for i in items]
    assert any("\n" in c for c in captions)
    assert any(any(ord(ch) > 0xFFFF for ch in c) for c in captions)  # astral emoji
    assert any(i["mentions"] is None for i in items)
    assert any(i["email_address"] for i in items)
    assert any(i["email_address"] is None for i in items)
    assert {"instagram", "tiktok", "desktop"} <= {i["source"] for i in items}
    assert any(p["sales_price"] is not None for i in items for p in i["products"])
    assert any(len(p["product_region_links"]) > 1 for i in items for p in i["products"])


def test_wire_json_is_compact_and_ascii_escaped(sim: Simulator, http: requests.Session) -> None:
    raw = get(http, sim, f"/albums/{standard_album(sim)}/photos", per_page=100).content
    assert raw.isascii()
    assert b'", "' not in raw and b"\\n" in raw


def test_products_point_at_their_product_album_placement(sim: Simulator) -> None:
    by_apid = {i["album_photo_id"]: i for i in sim.truth_media()}
    tagged = [(i, p) for i in sim.truth_media([standard_album(sim)]) for p in i["products"]]
    assert tagged
    for item, product in tagged:
        placement = by_apid[product["product_album_photo_id"]]
        assert placement["album_id"] == product["album_id"]
        assert placement["id"] == item["id"] == product["photo_id"]


def test_albums_list(sim: Simulator, http: requests.Session) -> None:
    body = get(http, sim, "/albums", per_page=100).json()
    assert {k: body[k] for k in ("status", "message", "page", "per_page", "next")} == {
        "status": 200,
        "message": "Successfully returned albums",
        "page": 1,
        "per_page": 100,
        "next": False,
    }
    assert body["total"] == len(body["data"]) == 3 + 6 + 3
    assert body["data"] == sim.truth_albums()
    types = [a["album_type"] for a in body["data"]]
    assert (types.count("standard"), types.count("product"), types.count("category")) == (3, 6, 3)
    album = body["data"][0]
    assert list(album)[:16] == [
        "id", "title", "user_id", "account_id", "album_type", "public_contribution",
        "public_viewing", "moderation", "live_update", "description", "num_photos",
        "num_inbox_photos", "created_at", "updated_at", "deleted_at", "display_options",
    ]  # fmt: skip
    standard = [a for a in body["data"] if a["album_type"] == "standard"]
    assert [a["num_photos"] for a in standard] == [120, 120, 120]
    assert [a["num_inbox_photos"] for a in standard] == [6, 6, 6]
    assert all_pages(http, sim, "/albums", per_page=5) == body["data"]


def test_single_media(sim: Simulator, http: requests.Session) -> None:
    item = sim.truth_media([standard_album(sim)])[3]
    response = get(http, sim, f"/media/{item['album_photo_id']}")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["data"]) == ("200", item)
    missing = get(http, sim, "/media/999")
    assert (missing.status_code, missing.json()) == (
        404,
        {"error": "Photo does not exist.", "status": "404"},
    )
    assert get(http, sim, "/media/abc").status_code == 404


def test_unapproved_content_is_never_served(sim: Simulator, http: requests.Session) -> None:
    album_id = standard_album(sim)
    served = {i["album_photo_id"] for i in all_pages(http, sim, f"/albums/{album_id}/photos")}
    assert len(served) == 120
    album = sim.world.album(album_id)
    assert album is not None
    hidden = [p.album_photo_id for p in album.placements if not p.approved]
    assert len(hidden) == 6 and not served & set(hidden)
    assert get(http, sim, f"/media/{hidden[0]}").status_code == 404


def test_from_sku(sim: Simulator, http: requests.Session) -> None:
    sku = next(s for s in sim.skus() if sim.truth_sku_media(s))
    items = all_pages(http, sim, "/albums/from_sku", sku=sku, per_page=7)
    assert items == sim.truth_sku_media(sku)
    assert all(sku in [p["sku"] for p in i["products"]] for i in items)
    unknown = get(http, sim, "/albums/from_sku", sku="no-such-sku")
    assert unknown.status_code == 404
    assert unknown.content == b'{"error":"Product does not exist.","status":"404"}'
    assert get(http, sim, "/albums/from_sku").status_code == 400


def test_sku_parameter_on_album_photos_picks_the_product_album(
    sim: Simulator, http: requests.Session
) -> None:
    sku = next(s for s in sim.skus() if sim.truth_sku_media(s))
    body = get(http, sim, f"/albums/{standard_album(sim)}/photos", sku=sku, per_page=100).json()
    assert body["data"] == sim.truth_sku_media(sku)[:100]


def test_unknown_album_route_and_method(sim: Simulator, http: requests.Session) -> None:
    album = get(http, sim, "/albums/1/photos")
    assert (album.status_code, album.json()) == (
        404,
        {"error": "Album does not exist.", "status": "404"},
    )
    route = get(http, sim, "/tags")
    assert (route.status_code, route.json()) == (404, {"error": "Not found", "status": 404})
    root = http.get(sim.root_url + "/nothing", timeout=5)
    assert (root.status_code, root.json()) == (404, {"error": "Not found", "status": 404})
    wrong = http.delete(sim.base_url + "/albums", timeout=5)
    assert (wrong.status_code, wrong.json()) == (
        405,
        {"error": "Method not allowed", "status": 405},
    )


def test_truth_matches_json_round_trip(sim: Simulator) -> None:
    items = sim.truth_media([standard_album(sim)])
    assert json.loads(json.dumps(items)) == items
