"""Where a page links to: server URLs, or relative file names in the static export.

Templates only ever call a :class:`Links` object, so the same templates serve the live app and
the folder that opens from disk.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from urllib.parse import quote, urlencode

from medselect.dashboard.assets import static_url


def slug(text: str) -> str:
    """A file-name-safe form of ``text``; a short hash keeps changed names distinct."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", text)
    if safe == text and not text.startswith("."):
        return text
    return f"{safe.lstrip('.')}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"


def _query(params: dict[str, object]) -> str:
    pairs = []
    for key, value in params.items():
        if value is None or value == ():
            continue
        if isinstance(value, bool):
            value = int(value)
        values = value if isinstance(value, list | tuple) else [value]
        pairs += [(key, str(v)) for v in values]
    return f"?{urlencode(pairs)}" if pairs else ""


class ServerLinks:
    """Links of the live app; query parameters carry what the page shows.

    ``rankable`` False: the case set has no labels (new cases uploaded without them), so the
    comparison, which compares metric values, opens on the default case set instead.
    """

    static_mode = False

    def __init__(self, case_set: str | None = None, *, rankable: bool = True) -> None:
        self.case_set = case_set
        self.rankable = rankable

    def _with_scope(self, params: dict[str, object]) -> str:
        return _query({"case_set": self.case_set, **params})

    def leaderboard(self, **params: object) -> str:
        return "/" + self._with_scope(params)

    def model(self, ref: str, **params: object) -> str:
        return f"/models/{quote(ref, safe='')}" + self._with_scope(params)

    def case(self, case_id: str, **params: object) -> str:
        return f"/cases/{quote(case_id, safe='')}" + self._with_scope(params)

    def compare(self, models: Sequence[str] = (), **params: object) -> str | None:
        params = {"models": list(models), **params}
        return "/compare" + (self._with_scope(params) if self.rankable else _query(params))

    def review(self, case_id: str) -> str:
        return f"/cases/{quote(case_id, safe='')}/reviews"

    def volume(self, case_id: str, name: str, **params: object) -> str:
        """A volume of the case viewer (see :mod:`.routes.volumes`)."""
        return (f"/api/cases/{quote(case_id, safe='')}/volumes/{name}"
                + self._with_scope(params))

    def registry(self) -> str:
        return "/registry"

    def card(self, task: str, scope: str, version: int) -> str:
        """The model card of a registry version (see :mod:`.routes.registry`)."""
        return f"/registry/cards/{quote(task, safe='')}/{quote(scope, safe='')}/{version}"

    def case_on(self, case_id: str, case_set: str, **params: object) -> str | None:
        """The case's page on ``case_set`` (a model card's reference set)."""
        return self.case(case_id, case_set=case_set, **params)

    def sites(self, **params: object) -> str:
        return "/sites" + self._with_scope(params)

    def gallery(self, ref: str, site: str | None = None) -> str | None:
        """The model's cases (at one site) on the links' case set."""
        return self.model(ref, site=site) + "#cases"

    def model_on(self, ref: str, case_set: str | None) -> str | None:
        """The model's page on ``case_set``; None when it has no case set to show."""
        return None if case_set is None else self.model(ref, case_set=case_set)

    def artifact(self, uri: str | None) -> str | None:
        return None if uri is None else "/artifacts/" + quote(uri)

    def static(self, name: str) -> str:
        """A static file, its content hash in the URL (see :mod:`.assets`)."""
        return static_url(name)


class StaticLinks:
    """Links between the files of a static export, relative to a page ``depth`` folders deep.

    Only pages the export writes are linked: ``leaderboards`` and ``compares`` list them,
    ``models`` the model pages, ``case_set`` is the one whose case pages are written (a link to
    anything else is None, and templates leave it out; pages of the exported case set link its
    models with :meth:`model`). Every registry version's model card is written.
    """

    static_mode = True

    def __init__(self, depth: int = 0, *, default_board: tuple = (),
                 compares: Sequence[Sequence[str]] = (), models: Sequence[str] = (),
                 case_set: str | None = None) -> None:
        self.prefix = "../" * depth
        self.default_board = tuple(default_board)
        self.compares = {tuple(c) for c in compares}
        self.models = frozenset(models)
        self.case_set = case_set

    def at(self, depth: int) -> StaticLinks:
        other = StaticLinks(depth, default_board=self.default_board, case_set=self.case_set)
        other.compares = self.compares
        other.models = self.models
        return other

    @staticmethod
    def board_key(metric: str | None = None, label: str | None = None,
                  aggregate: str | None = None, site: str | None = None) -> tuple:
        return (metric, label, aggregate or "mean", site)

    @classmethod
    def board_file(cls, key: tuple, default_board: tuple) -> str:
        if key == default_board:
            return "index.html"
        metric, label, aggregate, site = key
        name = "-".join((metric, label, aggregate, site or "all"))
        return f"leaderboard/{slug(name)}.html"

    def leaderboard(self, metric: str | None = None, label: str | None = None,
                    aggregate: str | None = None, site: str | None = None, **_: object) -> str:
        if metric is None:
            return self.prefix + "index.html"
        key = self.board_key(metric, label, aggregate, site)
        return self.prefix + self.board_file(key, self.default_board)

    def model(self, ref: str, **_: object) -> str:
        return f"{self.prefix}models/{slug(ref)}.html"

    def case(self, case_id: str, **_: object) -> str:
        return f"{self.prefix}cases/{slug(case_id)}.html"

    def compare(self, models: Sequence[str] = (), **_: object) -> str | None:
        if tuple(models) not in self.compares:
            return None
        return f"{self.prefix}{self.compare_file(models)}"

    @staticmethod
    def compare_file(models: Sequence[str]) -> str:
        return f"compare/{slug('--'.join(models))}.html"

    def review(self, case_id: str) -> None:
        return None

    def volume(self, case_id: str, name: str, **params: object) -> None:
        """None: the viewer needs the server (a page opened from disk cannot fetch files)."""
        return None

    def registry(self) -> str:
        return f"{self.prefix}registry.html"

    def card(self, task: str, scope: str, version: int) -> str:
        return self.prefix + self.card_file(task, scope, version)

    @staticmethod
    def card_file(task: str, scope: str, version: int) -> str:
        return f"cards/{slug(f'{task}-{scope}-v{version}')}.html"

    def case_on(self, case_id: str, case_set: str, **_: object) -> str | None:
        """The case's exported page; None unless ``case_set`` is the exported one."""
        return self.case(case_id) if case_set == self.case_set else None

    def sites(self, **_: object) -> str:
        return f"{self.prefix}sites.html"

    def gallery(self, ref: str, site: str | None = None) -> str | None:
        """The model's exported gallery (its site filter is in the page); None if none."""
        return self.model(ref) + "#cases" if ref in self.models else None

    def model_on(self, ref: str, case_set: str | None) -> str | None:
        """The model's exported page (on the exported case set); None when none was written."""
        return self.model(ref) if ref in self.models else None

    def artifact(self, uri: str | None) -> str | None:
        return None if uri is None else f"{self.prefix}artifacts/{quote(uri)}"

    def static(self, name: str) -> str:
        return f"{self.prefix}static/{name}"
