"""Tasks (with their ranking rules), dataset versions, their cases, and case sets (the test and
validation splits, the frozen reference test set, new cases).

Every function takes a :class:`~sqlalchemy.Connection` first (from ``Workspace.begin()`` for
writes) and returns plain dicts keyed by column name (see :mod:`medselect.store.schema`).
A dataset version's id is its content hash, so adding the same version twice is a no-op; a case
set is recorded with the content hash of its members, so later versions can keep pointing at
exactly the cases the reference results were computed on.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from medselect.errors import NotFound, StoreError
from medselect.store._rows import (
    as_dict,
    check_choice,
    complete_row,
    fetch_all,
    fetch_one,
    rejected,
)
from medselect.store.schema import (
    CASE_SET_KINDS,
    SPLITS,
    case,
    case_set,
    case_set_member,
    dataset_version,
    task,
)


def put_task(
    conn: sa.Connection,
    name: str,
    kind: str,
    config: Mapping[str, Any] | None = None,
    *,
    ranking: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Record a task, or update the config of an existing one; return its row.

    ``config`` is the task spec; its ``family`` is what :func:`task_family` reads.

    Args:
        ranking: the experiment's ``ranking:`` section as JSON
            (``RankingSpec.model_dump(mode="json")``), stored so that every reader ranks by
            the same rules; None leaves a stored one as it is (see :func:`set_task_ranking`).

    Raises:
        StoreError: the task exists with another kind or family (its data would no longer fit),
            or ``ranking`` is not a mapping.
    """
    config = dict(config or {})
    values = {"config": config}
    if ranking is not None:
        values["ranking"] = _ranking_json(name, ranking)
    existing = conn.execute(sa.select(task).where(task.c.name == name)).first()
    if existing is None:
        conn.execute(task.insert().values(name=name, kind=kind, **values))
        return get_task(conn, name)
    was = _kind_and_family(as_dict(existing))
    now = _kind_and_family({"kind": kind, "config": config})
    if was != now:
        raise StoreError(f"task {name!r} is a {was} task in this workspace, not {now}; "
                         "give the new task another name")
    conn.execute(task.update().where(task.c.name == name).values(**values))
    return get_task(conn, name)


def get_task(conn: sa.Connection, name: str) -> dict[str, Any]:
    """The task's row: ``name``, ``kind``, ``config`` (its spec), ``ranking`` (the ranking
    section stored with it, or None) and ``created_at``.

    Raises: NotFound.
    """
    return fetch_one(conn, sa.select(task).where(task.c.name == name), "task", name)


def set_task_ranking(
    conn: sa.Connection, name: str, ranking: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Store the ranking rules of task ``name`` (None removes them); return the task's row.

    Args:
        ranking: ``RankingSpec.model_dump(mode="json")`` of the experiment, or None.

    Raises:
        NotFound: no such task.
        StoreError: ``ranking`` is not a mapping.
    """
    get_task(conn, name)
    value = None if ranking is None else _ranking_json(name, ranking)
    conn.execute(task.update().where(task.c.name == name).values(ranking=value))
    return get_task(conn, name)


def _ranking_json(name: str, ranking: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(ranking, Mapping):
        raise StoreError(f"task {name!r}: ranking must be a JSON mapping "
                         f"(RankingSpec.model_dump(mode='json')), got {type(ranking).__name__}")
    return dict(ranking)


def task_family(task_row: Mapping[str, Any]) -> str:
    """The built-in kind whose data, metrics and dashboard a task shares: its config's
    ``family``, or its kind for a row written before families were stored (built-in kinds)."""
    return (task_row.get("config") or {}).get("family") or task_row["kind"]


def _kind_and_family(task_row: Mapping[str, Any]) -> str:
    kind, family = task_row["kind"], task_family(task_row)
    return kind if kind == family else f"{kind} ({family} family)"


def add_dataset_version(
    conn: sa.Connection, version_row: Mapping[str, Any], case_rows: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Store a dataset version and all its cases; return the version row.

    The id is a content hash, so a version already stored under it is returned unchanged.

    Args:
        version_row: ``dataset_version`` columns; ``id`` (the content hash) and ``task`` are
            required, ``n_cases`` defaults to ``len(case_rows)``.
        case_rows: ``case`` columns; ``dataset_version`` is filled in from the version.

    Raises:
        StoreError: a field is unknown or missing, or the database refused a row (duplicate
            case id, unknown task or parent); call this inside ``Workspace.begin()`` so that
            nothing of the version is kept.
    """
    version_id = version_row.get("id")
    if not version_id:
        raise StoreError("dataset version: the 'id' field (its content hash) is required")
    existing = conn.execute(sa.select(dataset_version).where(dataset_version.c.id == version_id))
    if (row := existing.first()) is not None:
        return as_dict(row)
    n_cases = version_row.get("n_cases", len(case_rows))
    if n_cases != len(case_rows):
        raise StoreError(
            f"dataset version {version_id!r}: n_cases is {n_cases} but {len(case_rows)} case rows "
            "were given"
        )
    version = complete_row(
        dataset_version, {**version_row, "n_cases": n_cases}, f"dataset version {version_id!r}"
    )
    cases = [_case_row(version_id, row) for row in case_rows]
    try:
        conn.execute(dataset_version.insert(), version)
        if cases:
            conn.execute(case.insert(), cases)
    except sa.exc.IntegrityError as exc:
        raise rejected(f"dataset version {version_id!r}", exc) from exc
    return get_dataset_version(conn, version_id)


def _case_row(version_id: str, row: Mapping[str, Any]) -> dict[str, Any]:
    what = f"case {row.get('case_id')!r} of dataset version {version_id!r}"
    if row.get("dataset_version", version_id) != version_id:
        raise StoreError(f"{what}: belongs to dataset version {row['dataset_version']!r}")
    check_choice(row.get("split"), SPLITS, f"{what}: split")
    return complete_row(case, {**row, "dataset_version": version_id}, what)


def get_dataset_version(conn: sa.Connection, version_id: str) -> dict[str, Any]:
    """Raises: NotFound."""
    stmt = sa.select(dataset_version).where(dataset_version.c.id == version_id)
    return fetch_one(conn, stmt, "dataset version", version_id)


def list_dataset_versions(conn: sa.Connection, task: str | None = None) -> list[dict[str, Any]]:
    """Dataset versions, oldest first (ties broken by id), optionally of one task."""
    stmt = sa.select(dataset_version).order_by(dataset_version.c.created_at, dataset_version.c.id)
    if task is not None:
        stmt = stmt.where(dataset_version.c.task == task)
    return fetch_all(conn, stmt)


def latest_dataset_version(conn: sa.Connection, task: str) -> dict[str, Any]:
    """The most recently created dataset version of ``task``.

    Raises:
        NotFound: the task has no dataset version yet.
    """
    stmt = (
        sa.select(dataset_version)
        .where(dataset_version.c.task == task)
        .order_by(dataset_version.c.created_at.desc(), dataset_version.c.id.desc())
        .limit(1)
    )
    row = conn.execute(stmt).first()
    if row is None:
        raise NotFound(
            f"task {task!r} has no dataset version; run `medselect data import` or "
            "`medselect data synth-knee` first"
        )
    return as_dict(row)


def set_reference_case_set(conn: sa.Connection, version_id: str, case_set_id: str) -> None:
    """Record the frozen test set ``version_id`` is judged on (it may belong to an older version).

    Raises:
        NotFound: the version or the case set is missing.
    """
    get_dataset_version(conn, version_id)
    get_case_set(conn, case_set_id)
    conn.execute(
        dataset_version.update()
        .where(dataset_version.c.id == version_id)
        .values(reference_case_set=case_set_id)
    )


def get_cases(
    conn: sa.Connection, version_id: str, split: str | None = None
) -> list[dict[str, Any]]:
    """Cases of a dataset version ordered by case id, optionally of one split.

    Raises:
        NotFound: the dataset version is missing (an empty list means no case in that split).
    """
    get_dataset_version(conn, version_id)
    stmt = sa.select(case).where(case.c.dataset_version == version_id).order_by(case.c.case_id)
    if split is not None:
        check_choice(split, SPLITS, "split")
        stmt = stmt.where(case.c.split == split)
    return fetch_all(conn, stmt)


def get_case(conn: sa.Connection, version_id: str, case_id: str) -> dict[str, Any]:
    """Raises: NotFound."""
    stmt = sa.select(case).where(case.c.dataset_version == version_id, case.c.case_id == case_id)
    return fetch_one(conn, stmt, f"case of dataset version {version_id!r}", case_id)


def add_case_set(
    conn: sa.Connection, case_set_row: Mapping[str, Any], members: Sequence[str]
) -> dict[str, Any]:
    """Store a named set of cases of one dataset version; return its row.

    Args:
        case_set_row: ``case_set`` columns; ``id``, ``name``, ``task``, ``dataset_version`` and
            ``kind`` are required. ``content_hash`` is computed from the members' content
            hashes (a given one must match).
        members: case ids of ``case_set_row["dataset_version"]``.

    Raises:
        NotFound: a member is not a case of that dataset version.
        StoreError: a field is wrong, or the id exists with other members (case sets never
            change; store the new set under a new id).
    """
    set_id = case_set_row.get("id")
    what = f"case set {set_id!r}"
    check_choice(case_set_row.get("kind"), CASE_SET_KINDS, f"{what}: kind")
    version_id = case_set_row.get("dataset_version")
    digest = case_set_hash(conn, version_id, members)
    given = case_set_row.get("content_hash", digest)
    if given != digest:
        raise StoreError(f"{what}: content_hash {given!r} does not match its members ({digest!r})")
    row = complete_row(case_set, {**case_set_row, "content_hash": digest}, what)
    existing = conn.execute(sa.select(case_set).where(case_set.c.id == set_id)).first()
    if existing is not None:
        if existing.content_hash != digest:
            raise StoreError(
                f"{what} already exists with other cases; case sets never change, "
                "store the new set under another id"
            )
        return as_dict(existing)
    try:
        conn.execute(case_set.insert(), row)
        if members:
            rows = [{"case_set": set_id, "dataset_version": version_id, "case_id": c}
                    for c in members]
            conn.execute(case_set_member.insert(), rows)
    except sa.exc.IntegrityError as exc:
        raise rejected(what, exc) from exc
    return get_case_set(conn, set_id)


def case_set_hash(conn: sa.Connection, version_id: str, case_ids: Sequence[str]) -> str:
    """Content hash of a set of cases: sha256 over the sorted ``case_id:content_hash`` lines.

    Raises:
        NotFound: a case id is not in the dataset version (the first few missing are named).
        StoreError: a case id is listed twice.
    """
    twice = sorted(c for c, n in Counter(case_ids).items() if n > 1)
    if twice:
        raise StoreError(f"case ids listed more than once: {twice[:5]}")
    stmt = sa.select(case.c.case_id, case.c.content_hash).where(
        case.c.dataset_version == version_id
    )
    hashes = dict(conn.execute(stmt).all())
    missing = [c for c in case_ids if c not in hashes]
    if missing:
        raise NotFound(
            f"{len(missing)} case(s) are not in dataset version {version_id!r}: {missing[:5]}"
        )
    lines = "".join(f"{c}:{hashes[c]}\n" for c in sorted(case_ids))
    return hashlib.sha256(lines.encode()).hexdigest()


def get_case_set(conn: sa.Connection, case_set_id: str) -> dict[str, Any]:
    """Raises: NotFound."""
    stmt = sa.select(case_set).where(case_set.c.id == case_set_id)
    return fetch_one(conn, stmt, "case set", case_set_id)


def list_case_sets(
    conn: sa.Connection, task: str | None = None, kind: str | None = None
) -> list[dict[str, Any]]:
    """Case sets, oldest first, optionally of one task and kind."""
    stmt = sa.select(case_set).order_by(case_set.c.created_at, case_set.c.id)
    if task is not None:
        stmt = stmt.where(case_set.c.task == task)
    if kind is not None:
        check_choice(kind, CASE_SET_KINDS, "kind")
        stmt = stmt.where(case_set.c.kind == kind)
    return fetch_all(conn, stmt)


def case_set_members(conn: sa.Connection, case_set_id: str) -> list[dict[str, Any]]:
    """The member cases (full ``case`` rows) of a case set, ordered by case id.

    Raises:
        NotFound: the case set is missing.
    """
    get_case_set(conn, case_set_id)
    return fetch_all(conn, _members_of(case_set_id).order_by(case.c.case_id))


def case_in_set(conn: sa.Connection, case_set_id: str, case_id: str) -> dict[str, Any]:
    """The full ``case`` row of one member of a case set.

    Raises:
        NotFound: the case is not in the case set (or the case set is missing).
    """
    stmt = _members_of(case_set_id).where(case.c.case_id == case_id)
    return fetch_one(conn, stmt, f"case of case set {case_set_id!r}", case_id)


def _members_of(case_set_id: str) -> sa.Select:
    joined = case.join(
        case_set_member,
        sa.and_(
            case_set_member.c.dataset_version == case.c.dataset_version,
            case_set_member.c.case_id == case.c.case_id,
        ),
    )
    return sa.select(case).select_from(joined).where(case_set_member.c.case_set == case_set_id)


def labelled_case_sets(conn: sa.Connection, case_sets: Sequence[str]) -> set[str]:
    """The case sets among ``case_sets`` with at least one case that has a reference (a label
    mask, landmark points or a class): only those have metrics to rank."""
    if not case_sets:
        return set()
    joined = case_set_member.join(case, sa.and_(
        case.c.dataset_version == case_set_member.c.dataset_version,
        case.c.case_id == case_set_member.c.case_id))
    stmt = (sa.select(case_set_member.c.case_set).distinct().select_from(joined)
            .where(case_set_member.c.case_set.in_(list(case_sets)),
                   sa.or_(case.c.label_uri.is_not(None), case.c.landmarks_uri.is_not(None),
                          case.c.target.is_not(None))))
    return set(conn.execute(stmt).scalars())
