"""`make demo` from a fresh clone, timed as a new user runs it (target: <= 120 s).

The repository is cloned into a temporary folder and `make demo` runs there as typed: it makes
`.venv`, installs the product (not the dev extras) and runs `pixlee demo` against the local
simulator. Two ways: with pip's cache as this machine has it (a user who installed Python
packages before), and with pip's cache off (`PIP_NO_CACHE_DIR=1`: every wheel fetched again from
the package index). The install and the demo are timed apart (`make .venv/.installed-base`, then
`make demo`). Prints a markdown table; asserts nothing.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _timed(command: list[str], folder: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=folder, env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - started


def _one(cache: bool) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="pixlee-fresh-") as tmp:
        clone = Path(tmp) / "dlt-pixlee"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "SOURCES__"))
        }
        env.update(DLT_DATA_DIR=str(Path(tmp) / "dlt_data"), RUNTIME__DLTHUB_TELEMETRY="false")
        if not cache:
            env["PIP_NO_CACHE_DIR"] = "1"
        install = _timed(["make", ".venv/.installed-base"], clone, env)
        demo = _timed(["make", "demo"], clone, env)
        return install, demo


def main() -> str:
    load = os.getloadavg()[0]
    lines = [
        f"A fresh `git clone`, then `make demo` (load average {load:.1f} when it started).",
        "",
        "| pip cache | install (`pip install -e .`) | `pixlee demo` | `make demo` | target |",
        "|---|---:|---:|---:|---|",
    ]
    for cache in (True, False):
        install, demo = _one(cache)
        total = install + demo
        met = "met" if total <= 120 else "missed"
        label = "as on this machine" if cache else "off (`PIP_NO_CACHE_DIR=1`)"
        lines.append(
            f"| {label} | {install:.0f} s | {demo:.0f} s | {total:.0f} s | ≤ 120 s: {met} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(main())
