"""``python -m pixlee.simulator --port 8080 ...``: the same command as ``pixlee sim``."""

import typer

from .cli import sim

if __name__ == "__main__":
    typer.run(sim)
