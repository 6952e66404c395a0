"""How the dashboard runs: which workspace, which address, which access token.

Built by the CLI from its options (never read from the environment here) and passed to
:func:`~medselect.dashboard.create_app`; nothing is created at import time.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from medselect.errors import ConfigError

TOKEN_BYTES = 24
MIN_TOKEN_LENGTH = 16
UNSPECIFIED_HOSTS = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}
"""Addresses that bind every interface, and the loopback link a local user opens instead."""


class DashboardSettings(BaseModel):
    """Settings of one dashboard app.

    Args:
        workspace: the workspace folder.
        database_url: SQLAlchemy URL of its database when it is not the folder's SQLite file.
        host: the address the server binds; any address but a loopback one requires ``token``.
        token: the access token every request must carry when ``host`` is not loopback.
        page_size: cases per gallery page.
        n_resamples: bootstrap resamples of the leaderboard's statistics; None: the task's
            ranking rules' (``ranking.bootstrap_resamples``), as ``medselect rank`` uses.
        seed: seed of the bootstrap; None: the ranking rules' (``ranking.seed``). Either way
            the same workspace always shows the same intervals.
        cache_size: how many computed leaderboards are kept in memory.
        warm_up: compute the default leaderboard in the background when the server starts.
        max_upload_file_bytes, max_upload_bytes, max_upload_files: the most one uploaded file,
            one upload request and its number of files may hold (new cases, ``/upload``).
        max_upload_unpacked_bytes: the most one upload request may unpack to, its gzip
            streams and DICOM zips counted together as they are decompressed.
        max_upload_voxels: the most voxels one uploaded image or label may declare in its
            header (2^27: a 512^3 volume); checked before its pixels are read.
        max_pending_uploads: uploads being checked, waiting or predicted at once; one more is
            answered 429 (try again later).
        max_stored_uploads: uploads kept in the workspace; beyond it the oldest expire.
        max_upload_age_days: uploads older than this expire (checked when the server starts
            and at each upload). An expired upload takes with it only what it created: its
            folder, its case set, the evaluations and reviews on that case set, and stored
            files no other case uses.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    workspace: Path
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    token: str | None = None
    page_size: int = Field(50, ge=1, le=1000)
    n_resamples: int | None = Field(None, ge=1)
    seed: int | None = None
    cache_size: int = Field(32, ge=1)
    warm_up: bool = True
    max_upload_file_bytes: int = Field(50_000_000, ge=1)
    max_upload_bytes: int = Field(200_000_000, ge=1)
    max_upload_files: int = Field(64, ge=1)
    max_upload_unpacked_bytes: int = Field(1_000_000_000, ge=1)
    max_upload_voxels: int = Field(2**27, ge=1)
    max_pending_uploads: int = Field(4, ge=1)
    max_stored_uploads: int = Field(50, ge=1)
    max_upload_age_days: float = Field(30.0, gt=0)

    @property
    def requires_token(self) -> bool:
        """Whether requests must carry :attr:`token` (the server listens beyond this machine)."""
        return not is_loopback(self.host)

    def check(self) -> None:
        """Raises: ConfigError: the token is shorter than :data:`MIN_TOKEN_LENGTH`, or the host
        is not loopback and no token is set."""
        if self.token is not None and len(self.token) < MIN_TOKEN_LENGTH:
            raise ConfigError(
                f"the access token (--token or MEDSELECT_TOKEN) has {len(self.token)} "
                f"characters; give at least {MIN_TOKEN_LENGTH}, or leave it out to have one "
                "generated"
            )
        if self.requires_token and not self.token:
            raise ConfigError(
                f"the dashboard binds {self.host!r}, which other machines can reach, so it needs "
                "an access token: pass --token, or let `medselect serve` generate one"
            )


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses; False for ``0.0.0.0`` and anything else."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def url_host(host: str) -> str:
    """``host`` as it appears in a URL and a ``Host`` header (IPv6 in brackets)."""
    bare = host.strip().strip("[]")
    try:
        return f"[{bare}]" if ipaddress.ip_address(bare).version == 6 else bare
    except ValueError:
        return bare


def server_urls(settings: DashboardSettings, hostname: str | None = None) -> list[str]:
    """The links to print for a server started with ``settings``, token included.

    A server bound to every interface (``0.0.0.0``, ``::``) is reached from other machines by
    this machine's name and locally by loopback: both are given, in that order. Any other
    address is the one link.

    Args:
        hostname: the machine's name; default :func:`socket.gethostname`.
    """
    bare = settings.host.strip().strip("[]")
    if bare in UNSPECIFIED_HOSTS:
        hosts = [hostname or socket.gethostname(), UNSPECIFIED_HOSTS[bare]]
    else:
        hosts = [url_host(settings.host)]
    query = f"?token={settings.token}" if settings.requires_token and settings.token else ""
    return [f"http://{host}:{settings.port}/{query}" for host in hosts]


def new_token() -> str:
    """A random URL-safe access token."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def ensure_token(settings: DashboardSettings) -> DashboardSettings:
    """``settings`` with a generated token when it needs one and has none (print it!)."""
    if settings.requires_token and not settings.token:
        return settings.model_copy(update={"token": new_token()})
    return settings
