"""``medselect serve``: a clean error for a short token, and links a browser can open."""

from __future__ import annotations

import pytest

from medselect.dashboard import DashboardSettings, server_urls
from medselect.testing.sample import build_sample_workspace

TOKEN = "t" * 20


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve") / "ws"
    build_sample_workspace(root).dispose()
    return root


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_a_short_token_is_a_one_line_error(run_cli, sample, host):
    result = run_cli("serve", "-w", sample, "--host", host, "--token", "short")
    assert result.code == 1
    assert result.stderr.strip() == (
        "error: the access token (--token or MEDSELECT_TOKEN) has 5 characters; give at least "
        "16, or leave it out to have one generated")
    assert "Traceback" not in result.stderr and result.stdout == ""


@pytest.mark.parametrize(("host", "urls"), [
    ("0.0.0.0", [f"http://scanner-7:8000/?token={TOKEN}", f"http://127.0.0.1:8000/?token={TOKEN}"]),
    ("::", [f"http://scanner-7:8000/?token={TOKEN}", f"http://[::1]:8000/?token={TOKEN}"]),
    ("192.168.1.10", [f"http://192.168.1.10:8000/?token={TOKEN}"]),
    ("fd00::5", [f"http://[fd00::5]:8000/?token={TOKEN}"]),
])
def test_links_name_a_reachable_host_and_loopback(tmp_path, host, urls):
    settings = DashboardSettings(workspace=tmp_path, host=host, token=TOKEN)
    assert server_urls(settings, hostname="scanner-7") == urls


def test_a_loopback_link_needs_no_token(tmp_path):
    settings = DashboardSettings(workspace=tmp_path, host="127.0.0.1", port=8123, token=TOKEN)
    assert server_urls(settings) == ["http://127.0.0.1:8123/"]


def test_the_default_host_name_is_this_machines(tmp_path):
    import socket

    settings = DashboardSettings(workspace=tmp_path, host="0.0.0.0", token=TOKEN)
    assert server_urls(settings)[0].startswith(f"http://{socket.gethostname()}:8000/")
