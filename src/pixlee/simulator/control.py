"""The ``/_sim`` control plane: ground truth, mutations, faults, limits, stats, the clock.

It exists for tests that run the simulator in another process (the CLI, a benchmark): they
cannot call the Python API, so every knob is also reachable over HTTP. It needs no API key,
is never rate limited, cached, delayed or faulted, and is not counted in the stats.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .api import ApiResponse, error
from .config import FakeClock
from .serialize import dumps

if TYPE_CHECKING:
    from .app import SimulatorApp


class ControlPlane:
    def __init__(self, app: SimulatorApp) -> None:
        self.app = app

    def handle(self, method: str, path: str, query: dict[str, str], body: bytes) -> ApiResponse:
        """Dispatch; any ValueError/KeyError/TypeError from the world is the caller's 400/404."""
        routes = {
            ("GET", "/_sim/truth/albums"): self.truth_albums,
            ("GET", "/_sim/truth/media"): self.truth_media,
            ("GET", "/_sim/truth/sku"): self.truth_sku,
            ("GET", "/_sim/truth/removed"): self.truth_removed,
            ("GET", "/_sim/skus"): self.skus,
            ("GET", "/_sim/stats"): self.stats,
            ("POST", "/_sim/stats/reset"): self.stats_reset,
            ("POST", "/_sim/mutate"): self.mutate,
            ("POST", "/_sim/faults"): self.faults,
            ("POST", "/_sim/rate_limit"): self.rate_limit,
            ("POST", "/_sim/clock/advance"): self.clock_advance,
            ("GET", "/_sim/config"): self.config,
        }
        handler = routes.get((method, path.rstrip("/")))
        if handler is None:
            return ApiResponse(404, b'{"error":"Not found","status":404}')
        try:
            payload: Any = json.loads(body) if body else {}
            if not isinstance(payload, dict):
                return error(400, "body must be a JSON object")
            return ApiResponse(200, dumps(handler(query, payload)))
        except KeyError as exc:
            return error(404, str(exc.args[0] if exc.args else exc))
        except (ValueError, TypeError) as exc:
            return error(400, str(exc))

    def truth_albums(self, query: dict[str, str], payload: dict[str, Any]) -> Any:
        return self.app.world.truth_albums()

    def truth_media(self, query: dict[str, str], payload: dict[str, Any]) -> Any:
        raw = query.get("album_ids")
        ids = [int(x) for x in raw.split(",") if x.strip()] if raw else None
        return self.app.world.truth_media(ids)

    def truth_sku(self, query: dict[str, str], payload: dict[str, Any]) -> Any:
        return self.app.world.truth_sku_media(query["sku"])

    def truth_removed(self, query: dict[str, str], payload: dict[str, Any]) -> Any:
        return sorted(self.app.world.removed_album_photo_ids())

    def skus(self, query: dict[str, str], payload: dict[str, Any]) -> Any:
        return self.app.world.skus()

    def stats(self, query: dict[str, str], payload: dict[str, Any]) -> Any:
        return self.app.stats.snapshot()

    def stats_reset(self, query: dict[str, str], payload: dict[str, Any]) -> Any:
        self.app.stats.reset()
        return {"ok": True}

    def mutate(self, query: dict[str, str], payload: dict[str, Any]) -> Any:
        world, op = self.app.world, payload.get("op")
        if op == "add":
            ids = world.add_media(
                int(payload["album_id"]), int(payload.get("count", 1)), **payload.get("fields", {})
            )
            return {"album_photo_ids": ids}
        if op == "edit":
            world.edit_media(int(payload["album_photo_id"]), **payload.get("fields", {}))
        elif op == "remove":
            world.remove_media(int(payload["album_photo_id"]), payload.get("how", "unapprove"))
        elif op == "restore":
            world.restore_media(int(payload["album_photo_id"]))
        elif op == "update_product":
            world.update_product(int(payload["product_id"]), **payload.get("fields", {}))
        elif op == "churn":
            world.start_churn(float(payload.get("per_second", 0)))
        else:
            raise ValueError("op is add, edit, remove, restore, update_product or churn")
        return {"ok": True}

    def faults(self, query: dict[str, str], payload: dict[str, Any]) -> Any:
        kinds = payload.get("fault_kinds")
        self.app.faults.configure(
            fault_rate=payload.get("fault_rate"),
            fault_kinds=tuple(kinds) if kinds is not None else None,
            latency_ms=payload.get("latency_ms"),
            jitter_ms=payload.get("jitter_ms"),
            seed=payload.get("seed"),
        )
        return {"ok": True}

    def rate_limit(self, query: dict[str, str], payload: dict[str, Any]) -> Any:
        self.app.limiter.configure(payload.get("get_per_minute"), payload.get("write_per_minute"))
        if "retry_after" in payload:
            self.app.retry_after = bool(payload["retry_after"])
        return {"ok": True, **self.app.limiter.limits()}

    def clock_advance(self, query: dict[str, str], payload: dict[str, Any]) -> Any:
        clock = self.app.config.clock
        if not isinstance(clock, FakeClock):
            raise ValueError("the simulator runs on the real clock")
        return {"now": clock.advance(float(payload["seconds"]))}

    def config(self, query: dict[str, str], payload: dict[str, Any]) -> Any:
        """Public, non-secret configuration (keys are not echoed)."""
        cfg = self.app.config
        return {
            "seed": cfg.seed,
            "albums": cfg.albums,
            "media_per_album": cfg.media_per_album,
            "products": cfg.products,
            "categories": cfg.categories,
            "max_per_page": cfg.max_per_page,
            "cache_ttl_seconds": cfg.cache_ttl_seconds,
            "account_id": self.app.world.account_id,
            "prewarmed": self.app.world.prewarmed.is_set(),
        }
