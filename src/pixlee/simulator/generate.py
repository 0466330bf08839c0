"""Generate a synthetic Pixlee account from a seed, deterministically and fast.

Only ``random.Random(seed)`` is used, never the wall clock: generated times are offsets from
a fixed base epoch, so the same seed gives the same account byte for byte on any machine and
day. The content imitates the real capture: captions with emoji and newlines, mostly
Instagram with some TikTok/desktop/API/Twitter/YouTube, ~15% videos, users with and without
e-mail addresses and locations, products with URL-encoded links, regional links, reviews and
occasional sale prices, photos shared between albums, and a few unapproved placements.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field

from .config import SimulatorConfig
from .model import Album, Photo, Placement, Product, User
from .serialize import url_encoded

# 2023-11-14T22:13:20Z: every generated time is at or before this instant.
BASE_EPOCH_MS = 1_700_000_000_000
DAY_MS = 86_400_000

_OPENERS = (
    "My new go to",
    "Obsessed with",
    "Can't stop wearing",
    "Weekend vibes with",
    "Finally got my hands on",
    "Golden hour in",
    "Sunday brunch feat.",
    "Packing for the trip:",
    "Date night look with",
    "Little treat for myself:",
    "Throwback to",
    "Morning ritual:",
    "Goldilocks and her obsession with",
    "Cannot believe how good",
    "Day 3 of wearing",
)
_SUBJECTS = (
    "these earrings",
    "the Icon hoops",
    "my favourite denim",
    "the linen shirt",
    "new sneakers",
    "this little bag",
    "the everyday tee",
    "a cosy knit",
    "the summer dress",
    "my desk setup",
    "the travel mug",
    "our new sofa",
    "the trail shoes",
    "a fresh palette",
    "the gold chain",
)
_EMOJI = (
    "\u2728",
    "\U0001f512",
    "\u2764\ufe0f",
    "\U0001f60d",
    "\U0001f525",
    "\U0001f338",
    "\u2600\ufe0f",
    "\U0001f49b",
    "\U0001f64c",
    "\U0001f45f",
    "\U0001f30a",
    "\U0001f4f8",
    "\U0001f4ab",
    "\U0001f942",
    "\U0001f483\U0001f3fd",
)
_TAGS = (
    "ootd",
    "styleinspo",
    "goldjewelry",
    "minimalist",
    "weekendvibes",
    "travelgram",
    "newin",
    "sustainablefashion",
    "homedecor",
    "sneakerhead",
    "coffeetime",
    "ad",
    "gifted",
    "summer",
    "fallfashion",
    "selfcare",
    "unboxing",
    "reviews",
)
_BRANDS = ("mejuri", "madewell", "pixlee", "acme.store", "northwind", "globex_style")
_WORDS = (
    "maryann",
    "modest",
    "alamode",
    "sunny",
    "wander",
    "lux",
    "daily",
    "studio",
    "the",
    "jo",
    "kate",
    "sam",
    "style",
    "home",
    "fit",
    "eats",
    "nova",
    "bloom",
    "vintage",
    "urban",
)
_PLACES = (
    ("Ontario", "Canada", 43.651036180417, -79.41241979599),
    ("Texas", "United States", 29.7629, -95.3832),
    ("California", "United States", 34.0522, -118.2437),
    ("England", "United Kingdom", 51.5072, -0.1276),
    ("Bavaria", "Germany", 48.1351, 11.582),
    ("Seoul", "Korea", 37.5665, 126.978),
    ("New South Wales", "Australia", -33.8688, 151.2093),
    ("Ile-de-France", "France", 48.8566, 2.3522),
)
_SOURCES = ("instagram", "tiktok", "desktop", "api", "twitter", "youtube", "facebook", "email")
_SOURCE_WEIGHTS = (60, 10, 8, 6, 6, 4, 4, 2)
_COLLECT = {
    "instagram": ("caption_hashtag", "mention", "tagged"),
    "tiktok": ("caption_hashtag",),
    "twitter": ("caption_hashtag", "mention"),
    "youtube": ("channel",),
    "facebook": ("page",),
    "desktop": ("upload",),
    "api": ("api",),
    "email": ("email",),
}
_VISION = ("beauty", "eyebrow", "fashion model", "hairstyle", "shoulder", "jewellery", "smile")
_PRODUCT_NOUNS = ("Blouse", "Hoop Earrings", "Linen Shirt", "Trail Runner", "Tote Bag", "Mug")
_PRODUCT_ADJ = ("Classic", "Organic", "Everyday", "Limited", "Vintage", "Icon", "Cloud")
_REGIONS = ("United States", "Germany", "Korea", "United Kingdom", "France", "Japan")
_CATEGORY_NAMES = ("Jewelry", "Apparel", "Footwear", "Home", "Beauty", "Outdoor", "Kids")


@dataclass
class Account:
    """Everything generated: the world's initial state and its id counters."""

    account_id: int
    owner_user_id: int
    albums: dict[int, Album] = field(default_factory=dict)
    products: dict[int, Product] = field(default_factory=dict)
    photos: dict[int, Photo] = field(default_factory=dict)
    placements: dict[int, Placement] = field(default_factory=dict)
    users: list[User] = field(default_factory=list)
    next_album_id: int = 0
    next_photo_id: int = 0
    next_album_photo_id: int = 0
    next_product_id: int = 0


def caption(rng: random.Random) -> str:
    """A social caption: emoji, a mention, hashtags and the bullet-newline padding."""
    if rng.random() < 0.02:
        return ""
    text = f"{rng.choice(_OPENERS)} {rng.choice(_SUBJECTS)} {rng.choice(_EMOJI)}"
    if rng.random() < 0.6:
        text += f" @{rng.choice(_BRANDS)}"
    tags = " ".join("#" + t for t in rng.sample(_TAGS, rng.randint(1, 4)))
    style = rng.random()
    if style < 0.4:
        return f"{text} {tags}\n\u2022\n\u2022\n\u2022\n#{rng.choice(_TAGS)}"
    if style < 0.7:
        return f"{text}\n({rng.choice(_EMOJI)} link in bio) | {tags}"
    return f"{text} {tags}"


def _user(rng: random.Random, user_id: int) -> User:
    name = f"{rng.choice(_WORDS)}{rng.choice(('.', '_', ''))}{rng.choice(_WORDS)}"
    if rng.random() < 0.4:
        name += str(rng.randrange(100))
    place = rng.choice(_PLACES) if rng.random() < 0.45 else None
    return User(
        connected_user_id=user_id,
        user_name=name,
        email_address=f"{name.replace('.', '')}@example.com" if rng.random() < 0.45 else None,
        avatar_token=f"{rng.getrandbits(80):020x}",
        instagram_followers=int(rng.lognormvariate(7.5, 1.6)),
        twitter_followers=None if rng.random() < 0.1 else rng.choice((0, 0, rng.randrange(5000))),
        latitude=place[2] if place else None,
        longitude=place[3] if place else None,
        locality=place[0] if place else None,
        country=place[1] if place else None,
    )


def _sku(rng: random.Random, index: int) -> str:
    style = index % 3
    if style == 0:
        return str(280_000 + index * 17 + rng.randrange(17))
    if style == 1:
        return f"PTS-{index:04d}"
    return (
        f"{rng.choice(_PRODUCT_ADJ).lower()}-{rng.choice(_PRODUCT_NOUNS).lower()}-{index}".replace(
            " ", "-"
        )
    )


def _product(rng: random.Random, product_id: int, index: int, album_id: int) -> Product:
    title = f"{rng.choice(_PRODUCT_ADJ)} {rng.choice(_PRODUCT_NOUNS)}"
    sku = _sku(rng, index)
    link = f"https://shop.example.com/products/{sku}?variant={rng.randrange(10**6)}&ref=pixlee"
    image = f"https://cdn.example.com/images/{sku}/main image.jpg"
    regions = [(name, i == 0, rng.randrange(3)) for i, name in enumerate(rng.sample(_REGIONS, 3))]
    price = None if rng.random() < 0.05 else round(rng.uniform(5, 400), 2)
    on_sale = price is not None and rng.random() < 0.2
    sale_start = BASE_EPOCH_MS - rng.randrange(30) * DAY_MS
    reviews = rng.choice((0, 0, rng.randrange(1, 500)))
    return Product(
        id=product_id,
        sku=sku,
        title=title,
        description="" if rng.random() < 0.5 else f"The {title.lower()} you keep reaching for.",
        price=price,
        currency=None if price is None else rng.choice(("USD", "USD", "EUR")),
        stock=None if rng.random() < 0.5 else rng.randrange(200),
        link=url_encoded(link),
        image=url_encoded(image),
        album_id=album_id,
        regions=regions[: rng.randint(1, 3)],
        num_reviews=reviews,
        average_rating=round(rng.uniform(3, 5), 1) if reviews else 0,
        sales_price=round(price * 0.8, 2) if on_sale and price is not None else None,
        sales_start_date=sale_start if on_sale else None,
        sales_end_date=sale_start + 60 * DAY_MS if on_sale else None,
    )


def new_photo(
    rng: random.Random,
    photo_id: int,
    user: User,
    created_at: int,
    video_ratio: float,
    source: str | None = None,
) -> Photo:
    """One photo with social counters and a caption; also used by churn and adds."""
    source = source or rng.choices(_SOURCES, _SOURCE_WEIGHTS)[0]
    is_video = rng.random() < video_ratio
    likes = int(rng.paretovariate(1.2) * 20) - 20
    has_permission = rng.random() < 0.35
    mentions: list[str] | None = (
        None if rng.random() < 0.3 else rng.sample(_BRANDS, rng.randint(0, 2))
    )
    title = caption(rng)
    return Photo(
        id=photo_id,
        user=user,
        source=source,
        content_type="video" if is_video else "image",
        title=title,
        token=f"{rng.getrandbits(80):020x}",
        media_key=f"{rng.getrandbits(60)}_{user.connected_user_id}",
        collect_term=rng.choice(_BRANDS) if source in ("instagram", "tiktok", "twitter") else None,
        collect_method=rng.choice(_COLLECT[source]),
        created_at=created_at,
        tagged_at=created_at - rng.randrange(0, 3 * DAY_MS) // 1000 * 1000,
        updated_at=created_at + rng.randrange(0, 20 * DAY_MS),
        native_likes=max(likes, 0),
        native_comments=rng.randrange(0, max(2, likes // 6 + 2)),
        native_shares=rng.randrange(0, 3) if source != "instagram" else 0,
        native_views=rng.randrange(100, 50_000) if is_video else 0,
        like_count=rng.choice((0, 0, 0, rng.randrange(20))),
        share_count=rng.choice((0, 0, 0, rng.randrange(5))),
        has_permission=has_permission,
        permissioned_at=created_at + rng.randrange(DAY_MS) if has_permission else None,
        is_starred=rng.random() < 0.1,
        is_flagged=rng.random() < 0.01,
        mentions=mentions,
        alt_text=f"{'video' if is_video else 'image'} by {user.user_name} containing "
        + ", ".join(sorted(rng.sample(_VISION, 3))),
        video_seconds=rng.randrange(6, 60) if is_video else 0,
    )


def generate(config: SimulatorConfig) -> Account:
    """Build the initial account for ``config`` (pure function of its data knobs)."""
    rng = random.Random(config.seed)
    account = Account(account_id=1000 + rng.randrange(9000), owner_user_id=rng.randrange(10**5))
    album_ids = itertools.count(config.first_album_id or 1_600_000 + rng.randrange(100_000) * 10)
    photo_ids = itertools.count(238_000_000 + rng.randrange(10**6))
    ap_ids = itertools.count(263_000_000 + rng.randrange(10**6))
    product_ids = itertools.count(3_850_000 + rng.randrange(10**5))

    def make_album(title: str, album_type: str, product_id: int | None = None) -> Album:
        created = BASE_EPOCH_MS - rng.randrange(800, 1000) * DAY_MS + rng.randrange(DAY_MS)
        album = Album(
            id=next(album_ids),
            title=title,
            album_type=album_type,
            user_id=account.owner_user_id,
            account_id=account.account_id,
            description=None if rng.random() < 0.5 else f"{title} \u2014 curated by the team",
            created_at=created,
            updated_at=created,
            product_id=product_id,
        )
        account.albums[album.id] = album
        return album

    standard = [
        make_album(f"Album {i + 1}: {rng.choice(_SUBJECTS)}", "standard")
        for i in range(config.albums)
    ]
    categories = [
        make_album(
            _CATEGORY_NAMES[i % len(_CATEGORY_NAMES)] + ("" if i < 7 else f" {i}"), "category"
        )
        for i in range(config.categories)
    ]
    for index in range(config.products):
        product_id = next(product_ids)
        album = make_album("", "product", product_id)
        product = _product(rng, product_id, index, album.id)
        album.title = product.title
        account.products[product_id] = product

    n_photos = config.albums * config.media_per_album
    account.users = [_user(rng, 47_000_000 + i * 13) for i in range(max(20, n_photos // 4))]
    product_list = list(account.products.values())
    category_ids = [a.id for a in categories]

    def place(photo: Photo, album_id: int, approved: bool, approved_on: int) -> Placement:
        placement = Placement(next(ap_ids), album_id, photo, approved, approved_on, approved)
        photo.placements.append(placement)
        account.albums[album_id].placements.append(placement)
        account.placements[placement.album_photo_id] = placement
        return placement

    unapproved_per_album = round(config.media_per_album * config.unapproved_ratio)
    placed: list[Photo] = []
    for album in standard:
        in_album: set[int] = set()
        slots = [True] * config.media_per_album + [False] * unapproved_per_album
        rng.shuffle(slots)
        for approved in slots:
            reuse = bool(placed) and rng.random() < config.shared_ratio
            if reuse:
                photo = rng.choice(placed)
                if photo.id in in_album:
                    reuse = False
            if not reuse:
                created = BASE_EPOCH_MS - 31 * DAY_MS - rng.randrange(730 * DAY_MS)
                photo = new_photo(
                    rng, next(photo_ids), rng.choice(account.users), created, config.video_ratio
                )
                account.photos[photo.id] = photo
                _tag(rng, photo, product_list, category_ids)
            approved_on = photo.created_at + rng.randrange(3600_000, 30 * DAY_MS)
            place(photo, album.id, approved, approved_on)
            in_album.add(photo.id)
            if not reuse:
                placed.append(photo)
                for product_id, tagged_at in photo.product_tags:
                    place(photo, account.products[product_id].album_id, approved, tagged_at)
                for category_id in photo.category_album_ids:
                    place(photo, category_id, approved, approved_on)

    account.next_album_id = next(album_ids)
    account.next_photo_id = next(photo_ids)
    account.next_album_photo_id = next(ap_ids)
    account.next_product_id = next(product_ids)
    return account


def _tag(
    rng: random.Random, photo: Photo, products: list[Product], category_ids: list[int]
) -> None:
    """Tag a new photo with 0-3 products and 0-2 categories."""
    if products:
        count = rng.choices((0, 1, 2, 3), (55, 28, 12, 5))[0]
        for product in rng.sample(products, min(count, len(products))):
            tagged_at = photo.created_at + rng.randrange(DAY_MS, 30 * DAY_MS)
            photo.product_tags.append((product.id, tagged_at))
    if category_ids:
        count = rng.choices((0, 1, 2), (65, 28, 7))[0]
        photo.category_album_ids.extend(
            sorted(rng.sample(category_ids, min(count, len(category_ids))))
        )
