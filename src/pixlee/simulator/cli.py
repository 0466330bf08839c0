"""``pixlee sim`` / ``python -m pixlee.simulator``: serve a local Pixlee in the foreground.

A plain function with typer-annotated parameters, so the project CLI can register it with
``app.command("sim")(sim)`` and ``__main__`` can ``typer.run`` it. Ctrl-C and SIGTERM stop
the server gracefully and exit with code 0 and no traceback.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Annotated

import typer
import uvicorn

from .app import SimulatorApp
from .config import (
    DEMO_API_KEY,
    DEMO_PRIVATE_API_KEY,
    DEMO_SECRET_KEY,
    SimulatorConfig,
)
from .server import bind_socket, uvicorn_config


def sim(
    port: Annotated[int, typer.Option(help="TCP port (0 picks a free one).")] = 8080,
    host: Annotated[
        str, typer.Option(help="Interface to bind; loopback by default.")
    ] = "127.0.0.1",
    albums: Annotated[int, typer.Option(help="Standard albums.")] = 20,
    media_per_album: Annotated[int, typer.Option(help="Approved media per standard album.")] = 500,
    products: Annotated[int, typer.Option(help="Products (one product album each).")] = 40,
    categories: Annotated[int, typer.Option(help="Category albums.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed: same seed, same account.")] = 1,
    latency_ms: Annotated[float, typer.Option(help="Fixed latency per request.")] = 0.0,
    jitter_ms: Annotated[float, typer.Option(help="Extra uniform random latency.")] = 0.0,
    rate_limit: Annotated[int, typer.Option(help="GET requests per minute per key.")] = 3600,
    write_rate_limit: Annotated[int, typer.Option(help="Non-GET requests per minute.")] = 3600,
    no_retry_after: Annotated[
        bool, typer.Option("--no-retry-after", help="Send 429s without Retry-After.")
    ] = False,
    faults: Annotated[float, typer.Option(help="Fraction of requests that fail.")] = 0.0,
    cache_ttl: Annotated[float, typer.Option(help="CDN cache TTL in seconds.")] = 120.0,
    churn: Annotated[float, typer.Option(help="Random mutations per second.")] = 0.0,
    api_key: Annotated[str, typer.Option(help="API key for reads.")] = DEMO_API_KEY,
    private_api_key: Annotated[
        str, typer.Option(help="Private API key for writes.")
    ] = DEMO_PRIVATE_API_KEY,
    secret_key: Annotated[str, typer.Option(help="Secret key for signatures.")] = DEMO_SECRET_KEY,
) -> None:
    """Serve a synthetic Pixlee account (Content API v2) until Ctrl-C."""
    config = SimulatorConfig(
        seed=seed,
        albums=albums,
        media_per_album=media_per_album,
        products=products,
        categories=categories,
        latency_ms=latency_ms,
        jitter_ms=jitter_ms,
        rate_limit=rate_limit,
        write_rate_limit=write_rate_limit,
        retry_after=not no_retry_after,
        fault_rate=faults,
        cache_ttl_seconds=cache_ttl,
        churn_per_second=churn,
        api_key=api_key,
        private_api_key=private_api_key,
        secret_key=secret_key,
        host=host,
        port=port,
    )
    app = SimulatorApp(config)
    sock = bind_socket(host, port)
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    base_url = f"http://{shown_host}:{bound_port}/api/v2"
    first_album = app.world.truth_albums()[0]["id"] if app.world.truth_albums() else 1
    typer.echo(f"Pixlee simulator serving on {base_url}")
    typer.echo(f"  api_key:         {api_key}")
    typer.echo(f"  private_api_key: {private_api_key}")
    typer.echo(f"  secret_key:      {secret_key}")
    typer.echo(f"  try: curl '{base_url}/albums/{first_album}/photos?api_key={api_key}&per_page=2'")
    typer.echo("Press Ctrl-C to stop.")
    sys.stdout.flush()

    server = uvicorn.Server(uvicorn_config(app))

    def quiet(signum: int, frame: FrameType | None) -> None:
        """Stop (even before uvicorn installs its handlers) and absorb the signal uvicorn
        re-raises after its graceful shutdown, so Ctrl-C/SIGTERM exit with code 0."""
        server.should_exit = True

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, quiet)
    app.world.start_prewarm()
    if churn > 0:
        app.world.start_churn(churn)
    try:
        server.run(sockets=[sock])
    finally:
        app.world.close()
        sock.close()
    typer.echo("Pixlee simulator stopped.")
