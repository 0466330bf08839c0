"""`pixlee submit …`: signed writes from the command line.

`media` and `file` create one piece of content, `album` one album, and `products` upserts a whole
CSV or JSONL catalogue with a progress bar, a final created/updated/failed table, and the failed
rows (each with its `_error`) written to a file that `pixlee submit products` accepts as is.
Credentials come from dlt config `[sources.pixlee_source]` (`private_api_key`, `secret_key`,
optional `base_url`). Errors are one line on stderr with exit code 1, never a traceback or a key.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from pixlee.api.write.signing import Algorithm as SignatureAlgorithm
from pixlee.cli.errors import one_line_errors

if TYPE_CHECKING:
    from pixlee.api.client import PixleeClient
    from pixlee.api.write.bulk import ItemResult

submit_app = typer.Typer(
    name="submit",
    help="Signed writes: create content, albums and products in Pixlee.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

BaseUrlOption = Annotated[
    str | None,
    typer.Option("--base-url", help="API base URL (default: [sources.pixlee_source] base_url)."),
]
AlgorithmOption = Annotated[
    str, typer.Option("--algorithm", help="Signature algorithm: sha1 (default) or sha256.")
]
AlbumOption = Annotated[int, typer.Option("--album", help="Album id to add the content to.")]
TitleOption = Annotated[str, typer.Option("--title", help="Caption of the content.")]
EmailOption = Annotated[
    str | None, typer.Option("--email", help="Submitter's email (or --connected-user-id).")
]
UserIdOption = Annotated[
    int | None, typer.Option("--connected-user-id", help="Submitter's Pixlee user id.")
]
UsernameOption = Annotated[str | None, typer.Option("--username", help="Submitter's name.")]
ApprovedOption = Annotated[
    bool,
    typer.Option(
        "--approved/--not-approved",
        help="Publish at once, or leave for moderation (the default: nothing goes live unseen).",
    ),
]
ContentTypeOption = Annotated[
    str | None, typer.Option("--content-type", help="e.g. image/jpeg, video/mp4.")
]
SkuOption = Annotated[
    list[str] | None, typer.Option("--product-sku", help="Tag a product (repeatable).")
]
CategoryOption = Annotated[
    list[str] | None, typer.Option("--category", help="Tag a category by name (repeatable).")
]


def _client(base_url: str | None, algorithm: str) -> PixleeClient:
    from pixlee.api.client import PixleeClient
    from pixlee.api.errors import PixleeConfigError

    if algorithm not in ("sha1", "sha256"):
        raise PixleeConfigError(f"--algorithm must be sha1 or sha256, got {algorithm!r}")
    client = PixleeClient(
        base_url=base_url, signature_algorithm=cast(SignatureAlgorithm, algorithm)
    )
    client.require_write_credentials()  # a missing key fails before any file is read
    return client


@submit_app.command("media")
def media(
    album: AlbumOption,
    photo_uri: Annotated[str, typer.Option("--photo-uri", help="Public URL of the image/video.")],
    title: TitleOption,
    email: EmailOption = None,
    connected_user_id: UserIdOption = None,
    username: UsernameOption = None,
    approved: ApprovedOption = False,
    content_type: ContentTypeOption = None,
    product_sku: SkuOption = None,
    category: CategoryOption = None,
    base_url: BaseUrlOption = None,
    algorithm: AlgorithmOption = "sha1",
) -> None:
    """Create content from a URL (POST /media); prints the new album_photo_id."""
    with one_line_errors():
        new_id = _client(base_url, algorithm).create_media(
            album,
            title,
            photo_uri,
            approved,
            email=email,
            connected_user_id=connected_user_id,
            username=username,
            content_type=content_type,
            product_skus=product_sku,
            category_names=category,
        )
        typer.echo(f"created album_photo_id {new_id}")


@submit_app.command("file")
def file(
    path: Annotated[Path, typer.Argument(help="Image or video file to upload.")],
    album: AlbumOption,
    title: TitleOption,
    email: EmailOption = None,
    connected_user_id: UserIdOption = None,
    username: UsernameOption = None,
    approved: ApprovedOption = False,
    content_type: ContentTypeOption = None,
    product_sku: SkuOption = None,
    category: CategoryOption = None,
    retry_unsafe: Annotated[
        bool,
        typer.Option(help="Retry after a 5xx/reset even though Pixlee may then hold it twice."),
    ] = False,
    base_url: BaseUrlOption = None,
    algorithm: AlgorithmOption = "sha1",
) -> None:
    """Upload a file (POST /media/file); prints the new album_photo_id."""
    with one_line_errors():
        new_id = _client(base_url, algorithm).create_media_from_file(
            path,
            album,
            title,
            approved,
            email=email,
            connected_user_id=connected_user_id,
            username=username,
            content_type=content_type,
            product_skus=product_sku,
            category_names=category,
            retry_unsafe=retry_unsafe,
        )
        typer.echo(f"created album_photo_id {new_id}")


@submit_app.command("album")
def album(
    title: Annotated[str, typer.Option("--title", help="Album title.")],
    album_type: Annotated[str, typer.Option("--type", help="standard or category.")] = "standard",
    base_url: BaseUrlOption = None,
    algorithm: AlgorithmOption = "sha1",
) -> None:
    """Create a standard or category album (POST /albums); prints its id."""
    with one_line_errors():
        new_id = _client(base_url, algorithm).create_album(title, album_type)
        typer.echo(f"created album {new_id}")


@submit_app.command("products")
def products(
    path: Annotated[Path, typer.Argument(help="Products as .csv or .jsonl (one per line).")],
    failed_file: Annotated[
        Path | None,
        typer.Option(help="Where failed rows go (default: <input>.failed.jsonl)."),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    base_url: BaseUrlOption = None,
    algorithm: AlgorithmOption = "sha1",
) -> None:
    """Upsert every product of a CSV/JSONL file; exit code 1 if any row failed."""
    with one_line_errors():
        client = _client(base_url, algorithm)
        rows = read_rows(path)
        results = _submit_with_progress(client, rows, progress)
        target = failed_file or path.with_name(path.name + ".failed.jsonl")
        failed = [r for r in results if not r.ok]
        _write_failed(target, failed)
        typer.echo(summary_table(results))
        if failed:
            typer.echo(f"{len(failed)} failed row(s) written to {target}; fix and resubmit it.")
    if failed:
        raise typer.Exit(code=1)


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a .csv (header line) or .jsonl file; empty CSV cells mean "not given"."""
    from pixlee.api.errors import PixleeValidationError

    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return [
                {k: v for k, v in row.items() if k is not None} for row in csv.DictReader(handle)
            ]
    if suffix in (".jsonl", ".ndjson"):
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                row = None
            if not isinstance(row, dict):
                raise PixleeValidationError(f"{path}: line {number} is not a JSON object")
            rows.append(row)
        return rows
    raise PixleeValidationError(f"{path}: expected a .csv or .jsonl file")


def _submit_with_progress(
    client: PixleeClient, rows: list[dict[str, Any]], progress: bool
) -> list[ItemResult]:
    from tqdm import tqdm

    with tqdm(total=len(rows), unit="row", disable=not progress) as bar:
        failed_seen = {"n": 0}

        def on_result(result: ItemResult) -> None:
            if not result.ok:
                failed_seen["n"] += 1
                bar.set_postfix(failed=failed_seen["n"], refresh=False)
            bar.update(1)

        return client.submit_products(rows, on_result=on_result)


def _write_failed(target: Path, failed: list[ItemResult]) -> None:
    """Failed rows as given, plus `_error`; stale failures of an earlier run are removed."""
    if not failed:
        target.unlink(missing_ok=True)
        return
    with target.open("w", encoding="utf-8") as handle:
        for result in failed:
            row = {k: v for k, v in result.row.items() if k != "_error"}
            handle.write(json.dumps({**row, "_error": result.error}, ensure_ascii=False) + "\n")


def summary_table(results: list[ItemResult]) -> str:
    """Counts by outcome, then the failed rows (first 20) with their errors."""
    counts = {
        status: sum(r.status == status for r in results)
        for status in ("created", "updated", "failed")
    }
    lines = ["", f"{'outcome':<10}{'rows':>8}", f"{'-' * 18}"]
    lines += [f"{status:<10}{count:>8}" for status, count in counts.items()]
    lines.append(f"{'total':<10}{len(results):>8}")
    failed = [r for r in results if not r.ok]
    for result in failed[:20]:
        lines.append(f"  row {result.index + 1} ({result.key or 'no sku'}): {result.error}")
    if len(failed) > 20:
        lines.append(f"  … and {len(failed) - 20} more")
    return "\n".join(lines)


__all__ = ["submit_app", "read_rows", "summary_table"]
