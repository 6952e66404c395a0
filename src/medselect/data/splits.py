"""Patient-level, stratified, deterministic train/val/test splits, and K folds for
cross-validation.

All cases of a patient land in one split (or fold), so no patient is seen in training and in
test. Each stratum (by default each site) is split by the fractions as closely as integer
patient counts allow, with the rounding spread so that the overall counts also match the
fractions; K folds share every stratum's patients equally, and differ by at most one patient
overall. Which patient goes where depends only on the seed and the patient id (a keyed hash
orders them), never on the order of the input; adding patients later moves few of the existing
ones.

Example::

    >>> records = assign_splits(records, {"train": 0.7, "val": 0.1, "test": 0.2}, seed=0)
    >>> fold_of = assign_folds(train_and_val, 5, seed=0)   # case id -> fold 1..5
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Collection, Hashable, Mapping, Sequence
from typing import Any

from medselect.data.case import SPLITS, CaseRecord, Split
from medselect.errors import DataError

DEFAULT_FRACTIONS: Mapping[Split, float] = {"train": 0.7, "val": 0.1, "test": 0.2}
MIN_HELD_OUT_PATIENTS = 2
"""Patients a held-out site needs in each of val and test."""
_MIN_PATIENTS_FOR_TEST = 3  # a stratum this large always gets at least one test patient
_FILL_ORDER: tuple[Split, ...] = ("test", "val", "train")  # test first: the most stable split

_Counts = dict[str, dict[Any, int]]  # stratum -> split (or fold) -> number of patients


def assign_splits(
    records: Sequence[CaseRecord],
    fractions: Mapping[str, float] = DEFAULT_FRACTIONS,
    *,
    stratify_by: str | None = "site",
    seed: int = 0,
    held_out_sites: Collection[str] = (),
) -> list[CaseRecord]:
    """Return ``records`` (same order) with ``split`` set for every case.

    Args:
        records: the cases; a patient whose cases already have a split keeps it for all of its
            cases. Such fixed patients are not counted: the fractions apply to the others.
        fractions: share of patients per split (keys among train, val, test; summing to 1).
        stratify_by: a ``CaseRecord`` field (``site``, ``target``) or attribute name to split
            each value's patients separately, or None. A patient whose cases disagree is placed
            by its most frequent value.
        seed: another seed gives another split.
        held_out_sites: sites no model trains on: their patients go only to val and test
            (shared by the val:test ratio of ``fractions``, at least
            :data:`MIN_HELD_OUT_PATIENTS` each), to measure how the models transfer to a
            hospital they never saw. The other patients are split by ``fractions``.

    Raises:
        DataError: bad fractions, duplicate case ids, a patient fixed to two splits, an unknown
            ``stratify_by``, or too few patients to give every non-zero fraction a patient; a
            held-out site no case has, with too few patients, or with a patient fixed to train.
    """
    shares = _check_fractions(fractions)
    by_patient = _cases_by_patient(records)
    fixed = _fixed_splits(by_patient)
    site_of = {p: _stratum(cases, "site") for p, cases in by_patient.items()}
    held = _held_out(by_patient, site_of, fixed, held_out_sites, shares, seed)
    fixed |= held
    free = sorted(set(by_patient) - set(fixed))
    if not free:
        return [dataclasses.replace(r, split=fixed[r.patient_id]) for r in records]
    _check_stratify_by(stratify_by, records)
    strata = {p: _stratum(cases, stratify_by) for p, cases in by_patient.items()}

    wanted = [k for k in SPLITS if shares[k] > 0]
    if len(by_patient) < len(wanted):
        raise DataError(
            f"cannot split {len(by_patient)} patient(s) into {len(wanted)} non-empty splits "
            f"({', '.join(wanted)}); add patients or set some fractions to 0"
        )
    free_by_stratum: dict[str, list[str]] = defaultdict(list)
    for patient in free:
        free_by_stratum[strata[patient]].append(patient)
    fixed_counts = Counter((strata[p], k) for p, k in fixed.items())
    counts = _apportion({s: len(ps) for s, ps in free_by_stratum.items()}, shares)
    _ensure_minimums(counts, fixed_counts, wanted)

    assigned: dict[str, Split] = dict(fixed)
    assigned.update(_fill(free_by_stratum, counts, _FILL_ORDER, seed))
    return [dataclasses.replace(r, split=assigned[r.patient_id]) for r in records]


def _held_out(by_patient: Mapping[str, list[CaseRecord]], site_of: Mapping[str, str],
              fixed: Mapping[str, Split], sites: Collection[str], shares: Mapping[Split, float],
              seed: int) -> dict[str, Split]:
    """Patient -> val or test for the held-out sites' patients not fixed already: per site in
    keyed-hash order, val getting its share of val + test, rounded, at least
    :data:`MIN_HELD_OUT_PATIENTS` of each."""
    if not sites:
        return {}
    field = "split.held_out_sites"
    known = sorted(set(site_of.values()))
    unknown = sorted(set(sites) - set(known))
    if unknown:
        raise DataError(f"{field}: no case is of site(s) {unknown}; the sites are {known}")
    if not (shares["val"] and shares["test"]):
        raise DataError(f"{field}: a held-out site's patients go to val and test, so both "
                        f"fractions must be above 0 (got {dict(shares)})")
    trained = sorted(p for p, k in fixed.items() if k == "train" and site_of[p] in sites)
    if trained:
        raise DataError(f"{field}: patient(s) {trained[:5]} of a held-out site are in the "
                        f"training split of an earlier dataset version; a site the models "
                        f"learnt from cannot be held out")
    val_share = shares["val"] / (shares["val"] + shares["test"])
    assigned: dict[str, Split] = {}
    for site in sorted(set(sites)):
        patients = [p for p in by_patient if site_of[p] == site]
        free = [p for p in patients if p not in fixed]
        n_fixed = {k: sum(fixed.get(p) == k for p in patients) for k in ("val", "test")}
        lowest = MIN_HELD_OUT_PATIENTS
        if len(patients) < 2 * lowest:
            raise DataError(f"{field}: site {site!r} has {len(patients)} patient(s); a held-out "
                            f"site needs at least {2 * lowest} ({lowest} for val and for test)")
        n_val = round(len(patients) * val_share) - n_fixed["val"]
        n_val = min(max(n_val, lowest - n_fixed["val"], 0),
                    len(free) - max(lowest - n_fixed["test"], 0))
        ordered = sorted(free, key=lambda p: hashlib.sha256(f"{seed}\0{p}".encode()).digest())
        assigned |= {p: "val" if i < n_val else "test" for i, p in enumerate(ordered)}
    return assigned


def assign_folds(
    records: Sequence[CaseRecord], folds: int, *, stratify_by: str | None = "site", seed: int = 0
) -> dict[str, int]:
    """Case id -> fold (1..``folds``): K patient-level, stratified folds of ``records``.

    Every patient's cases share a fold; each stratum's patients are spread over the folds as
    evenly as integer counts allow, with the rounding spread so the folds' sizes also differ by
    at most one patient overall. The records' ``split`` is not read: pass the cases to fold
    (train + val).

    Args:
        folds: K, at least 2.
        stratify_by, seed: as :func:`assign_splits`.

    Raises:
        DataError: duplicate case ids, an unknown ``stratify_by``, fewer than 2 folds, or a
            fold that would have no patient (the message names K and the counts).
    """
    if folds < 2:
        raise DataError(f"folds must be at least 2, got {folds}")
    by_patient = _cases_by_patient(records)
    _check_stratify_by(stratify_by, records)
    free_by_stratum: dict[str, list[str]] = defaultdict(list)
    for patient, cases in sorted(by_patient.items()):
        free_by_stratum[_stratum(cases, stratify_by)].append(patient)
    bins = tuple(range(1, folds + 1))
    counts = _fold_counts({s: len(ps) for s, ps in free_by_stratum.items()}, bins)
    empty = [k for k in bins if not any(c[k] for c in counts.values())]
    if empty:
        raise DataError(
            f"{folds} folds of {len(by_patient)} patient(s) ({len(records)} case(s)) leave "
            f"fold(s) {empty} without a patient; use at most {len(by_patient)} folds or add "
            f"patients")
    fold_of = _fill(free_by_stratum, counts, bins, seed)
    return {r.case_id: fold_of[r.patient_id] for r in records}


def _fold_counts(sizes: Mapping[str, int], bins: tuple[int, ...]) -> _Counts:
    """Patients per stratum and fold: each fold the stratum's size // K, and the remainder to
    the folds with the fewest patients so far, one each (ties: the lower fold). Strata are taken
    in name order, so folds always differ by at most one patient, per stratum and overall.
    """
    totals = dict.fromkeys(bins, 0)
    counts: _Counts = {}
    for stratum in sorted(sizes):
        base, extra = divmod(sizes[stratum], len(bins))
        counts[stratum] = dict.fromkeys(bins, base)
        for k in sorted(bins, key=lambda k: (totals[k], k))[:extra]:
            counts[stratum][k] += 1
        for k in bins:
            totals[k] += counts[stratum][k]
    return counts


def _fill(free_by_stratum: Mapping[str, list[str]], counts: _Counts, order: Sequence[Hashable],
          seed: int) -> dict[str, Any]:
    """Patient -> bin: each stratum's patients in keyed-hash order, the bins filled in
    ``order`` with ``counts`` patients each."""
    assigned: dict[str, Any] = {}
    for stratum, patients in free_by_stratum.items():
        ordered = sorted(patients, key=lambda p: hashlib.sha256(f"{seed}\0{p}".encode()).digest())
        start = 0
        for name in order:
            for patient in ordered[start:start + counts[stratum][name]]:
                assigned[patient] = name
            start += counts[stratum][name]
    return assigned


def _check_fractions(fractions: Mapping[str, float]) -> dict[Split, float]:
    unknown = sorted(set(fractions) - set(SPLITS))
    if unknown:
        raise DataError(f"fractions has unknown split(s) {unknown}; use {list(SPLITS)}")
    shares = {k: float(fractions.get(k, 0.0)) for k in SPLITS}
    if not all(math.isfinite(v) and v >= 0 for v in shares.values()):
        raise DataError(f"fractions {dict(fractions)} must be finite and non-negative")
    if not math.isclose(sum(shares.values()), 1.0, abs_tol=1e-6):
        raise DataError(f"fractions {dict(fractions)} sum to {sum(shares.values()):g}; "
                        f"they must sum to 1")
    return shares


def _cases_by_patient(records: Sequence[CaseRecord]) -> dict[str, list[CaseRecord]]:
    seen: set[str] = set()
    by_patient: dict[str, list[CaseRecord]] = defaultdict(list)
    for record in records:
        if record.case_id in seen:
            raise DataError(f"case id {record.case_id!r} appears twice; case ids must be unique")
        seen.add(record.case_id)
        by_patient[record.patient_id].append(record)
    return by_patient


def _fixed_splits(by_patient: Mapping[str, list[CaseRecord]]) -> dict[str, Split]:
    fixed: dict[str, Split] = {}
    for patient, cases in by_patient.items():
        splits = {r.split for r in cases if r.split is not None}
        if len(splits) > 1:
            listing = ", ".join(f"{r.case_id}={r.split}" for r in cases if r.split)
            raise DataError(f"patient {patient!r} has cases fixed to different splits "
                            f"({listing}); put all of a patient's cases in one split")
        if splits:
            fixed[patient] = splits.pop()
    return fixed


_FIELDS = frozenset(f.name for f in dataclasses.fields(CaseRecord))


def _check_stratify_by(stratify_by: str | None, records: Sequence[CaseRecord]) -> None:
    if stratify_by is None or stratify_by in _FIELDS:
        return
    if not any(stratify_by in r.attributes for r in records):
        raise DataError(f"stratify_by={stratify_by!r} is neither a case field ({sorted(_FIELDS)}) "
                        f"nor an attribute of any case; use e.g. 'site' or None")


def _stratum(cases: list[CaseRecord], stratify_by: str | None) -> str:
    """The patient's stratum: its cases' most frequent value (ties: the smallest)."""
    if stratify_by is None:
        return ""
    values = Counter(
        str(getattr(r, stratify_by)) if stratify_by in _FIELDS
        else r.attributes.get(stratify_by, "")
        for r in cases
    )
    return min(values, key=lambda v: (-values[v], v))


def _apportion(sizes: Mapping[str, int], shares: Mapping[Split, float]) -> _Counts:
    """Patients per stratum and split: floors, then the largest remainders.

    Leftover patients go to the (stratum, split) pairs with the largest remainders, first only
    while that split is below its overall target, so per-stratum rounding does not add up to an
    overall bias (five sites of 5 patients with val 0.1 still give val about 2.5 patients).
    """
    total = sum(sizes.values())
    exact_total = {k: total * shares[k] for k in SPLITS}
    target = {k: math.floor(exact_total[k]) for k in SPLITS}
    by_remainder = sorted(SPLITS, key=lambda k: (target[k] - exact_total[k], SPLITS.index(k)))
    for k in by_remainder[: total - sum(target.values())]:
        target[k] += 1

    counts: _Counts = {s: {k: math.floor(n * shares[k]) for k in SPLITS} for s, n in sizes.items()}
    left = {s: n - sum(counts[s].values()) for s, n in sizes.items()}
    given = Counter({k: sum(c[k] for c in counts.values()) for k in SPLITS})
    candidates = sorted(
        ((s, k) for s, n in sizes.items() for k in SPLITS if shares[k] > 0),
        key=lambda sk: (math.floor(sizes[sk[0]] * shares[sk[1]]) - sizes[sk[0]] * shares[sk[1]],
                        SPLITS.index(sk[1]), sk[0]),
    )
    used: set[tuple[str, Split]] = set()
    for respect_target in (True, False):
        for s, k in candidates:
            if left[s] and (s, k) not in used and (given[k] < target[k] or not respect_target):
                counts[s][k] += 1
                left[s] -= 1
                given[k] += 1
                used.add((s, k))
    return counts


def _ensure_minimums(counts: _Counts, fixed: Counter[tuple[str, Split]],
                     wanted: list[Split]) -> None:
    """Move single patients so the split makes sense per stratum, in this order of rules:

    1. a stratum of one patient is too small to split: its patient trains;
    2. a stratum of two or more patients with held-out (val or test) patients has a training
       patient, so no site is only ever tested on;
    3. a stratum of :data:`_MIN_PATIENTS_FOR_TEST` or more patients has a test patient;
    4. no wanted split is empty overall, taking patients only where rules 2 and 3 still hold;
       only when that is impossible may a one-patient stratum give its patient.

    Raises:
        DataError: a wanted split cannot get a patient without emptying another.
    """
    size = {s: sum(c.values()) + sum(n for (t, _), n in fixed.items() if t == s)
            for s, c in counts.items()}

    def total(k: Split) -> int:
        return sum(c[k] for c in counts.values()) + sum(n for (_, j), n in fixed.items() if j == k)

    def has(stratum: str, k: Split) -> int:
        return counts[stratum][k] + fixed[(stratum, k)]

    def spare(stratum: str, j: Split, to: Split, *, tiny: bool) -> bool:
        """Whether one free patient of ``stratum`` may leave split ``j`` for ``to``."""
        if j == to or counts[stratum][j] == 0 or total(j) <= 1:
            return False
        if size[stratum] == 1:
            return tiny
        if j == "train":
            return has(stratum, "train") > 1
        return not (j == "test" and size[stratum] >= _MIN_PATIENTS_FOR_TEST
                    and "test" in wanted and has(stratum, "test") == 1)

    def move(stratum: str, to: Split, donors: Sequence[Split]) -> None:
        """One free patient of ``stratum`` to ``to`` from the first donor split holding one."""
        for j in donors:
            if counts[stratum][j]:
                counts[stratum][j] -= 1
                counts[stratum][to] += 1
                return

    for stratum in counts:
        if size[stratum] == 1:
            move(stratum, "train", ("val", "test"))
        elif has(stratum, "train") == 0 and has(stratum, "val") + has(stratum, "test"):
            move(stratum, "train", sorted(("val", "test"), key=lambda j: -counts[stratum][j]))
        if size[stratum] >= _MIN_PATIENTS_FOR_TEST and "test" in wanted \
                and has(stratum, "test") == 0:
            move(stratum, "test", ("train", "val") if has(stratum, "train") > 1 else ("val",))
    by_size = sorted(counts, key=lambda s: (-size[s], s))
    for split in wanted:
        for tiny in (False, True):
            donor = next(((s, j) for s in by_size for j in SPLITS
                          if total(split) == 0 and spare(s, j, split, tiny=tiny)), None)
            if donor:
                counts[donor[0]][donor[1]] -= 1
                counts[donor[0]][split] += 1
                break
        if total(split) == 0:
            raise DataError(f"no patient is left for the {split!r} split; add patients or set "
                            f"its fraction to 0")
