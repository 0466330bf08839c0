"""``python -m pixlee.simulator`` serves in the foreground and stops cleanly on signals."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
import requests


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_cli_serves_and_stops_cleanly(signum: int) -> None:
    cmd = [
        sys.executable, "-m", "pixlee.simulator", "--port", "0", "--albums", "2",
        "--media-per-album", "10", "--products", "2", "--categories", "1", "--seed", "3",
        "--api-key", "K", "--private-api-key", "P", "--secret-key", "S", "--no-retry-after",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("Pixlee simulator serving on http://127.0.0.1:")
        base_url = first.rsplit(" ", 1)[1].strip()
        assert base_url.endswith("/api/v2")
        banner = [proc.stdout.readline() for _ in range(5)]
        assert "K" in banner[0] and "P" in banner[1] and "S" in banner[2]
        assert banner[3].strip().startswith("try: curl '" + base_url)
        response = requests.get(base_url + "/albums", params={"api_key": "K"}, timeout=10)
        assert response.status_code == 200 and response.json()["total"] == 2 + 2 + 1
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert "Traceback" not in err
    assert "stopped" in out
