"""What a split leaves each site: patients and cases per split, and what is too few.

Per-site figures need patients of that site in every split: a site without training patients
is never learnt from (its results measure transfer to an unseen site), a site with only
training patients has no figures of its own, and a site with fewer than
:data:`MIN_TEST_PATIENTS` test patients cannot support a per-site figure or choice (one or two
patients are anecdotes, not a sample). A test set of fewer than :data:`MIN_TEST_PATIENTS_OVERALL`
patients cannot support a confident choice at all. Small datasets produce all of these silently
(5 patients per site split 60/20/20 leave one test patient per site), so an import reports them
as warnings.

Example::

    >>> counts = site_split_counts(records)
    >>> counts["site-b"].patients
    {'train': 3, 'val': 1, 'test': 1}
    >>> [(w.site, w.problem) for w in split_warnings(counts)]
    [('site-b', 'few_test_patients')]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from medselect.data.case import SPLITS, CaseRecord
from medselect.data.notices import DataWarning

__all__ = ["MIN_TEST_PATIENTS", "MIN_TEST_PATIENTS_OVERALL", "SiteSplitCounts",
           "site_split_counts", "split_warnings"]

MIN_TEST_PATIENTS = 3
"""Test patients a site needs before its per-site figures mean something."""

MIN_TEST_PATIENTS_OVERALL = 10
"""Test patients below which even the pooled figures rest on too few patients."""

_FIX = ("import more patients of site {site!r}, or change the split (the experiment's "
        "data.split.fractions or stratify_by; cases already imported keep their split)")


@dataclass(frozen=True)
class SiteSplitCounts:
    """Patients and cases of one site per split (``train``, ``val``, ``test``, all present)."""

    patients: dict[str, int]
    cases: dict[str, int]

    def describe(self) -> str:
        """``"patients train 3 / val 1 / test 1, cases 4 / 1 / 2"``."""
        patients = " / ".join(f"{split} {self.patients[split]}" for split in SPLITS)
        cases = " / ".join(str(self.cases[split]) for split in SPLITS)
        return f"patients {patients}, cases {cases}"


def site_split_counts(records: Iterable[CaseRecord]) -> dict[str, SiteSplitCounts]:
    """Patients and cases per site and split, sites in name order.

    A patient counts once per split it has cases in (splits keep a patient's cases together,
    so that is one split); cases without a split are not counted.
    """
    patients: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    cases: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for record in records:
        if record.split is None:
            continue
        patients[record.site][record.split].add(record.patient_id)
        cases[record.site][record.split] += 1
    return {site: SiteSplitCounts(
        patients={s: len(patients[site][s]) for s in SPLITS},
        cases={s: cases[site][s] for s in SPLITS},
    ) for site in sorted(cases)}


def split_warnings(counts: Mapping[str, SiteSplitCounts],
                   held_out_sites: Collection[str] = ()) -> list[DataWarning]:
    """The warnings of a split: per site (in name order) held-out patients without training
    patients (unless the site is one of ``held_out_sites``, kept out of training on purpose),
    training patients only, or fewer than :data:`MIN_TEST_PATIENTS` test patients; then a test
    set of fewer than :data:`MIN_TEST_PATIENTS_OVERALL` patients in all."""
    warnings = []
    for site, c in sorted(counts.items()):
        fix = _FIX.format(site=site)
        held_out = c.patients["test"] + c.patients["val"]
        if c.patients["train"] == 0 and held_out and site not in held_out_sites:
            warnings.append(DataWarning("no_training_patients", (
                f"site {site!r} has held-out patients but no training patient "
                f"({c.describe()}): no model learns from this site, so its figures measure "
                f"transfer to an unseen site; {fix}"), site))
        if not held_out:
            warnings.append(DataWarning("not_tested", (
                f"site {site!r} has no held-out patient ({c.describe()}): too small to split, "
                f"its patients train the models but it has no figures of its own; {fix}"), site))
            continue
        n_test = c.patients["test"]
        if n_test < MIN_TEST_PATIENTS:
            few = ("no test patient" if n_test == 0 else
                   f"only {n_test} test patient{'s' if n_test > 1 else ''}")
            warnings.append(DataWarning("few_test_patients", (
                f"site {site!r} has {few}, fewer than {MIN_TEST_PATIENTS} ({c.describe()}): "
                f"its per-site figures and choices rest on too few patients; {fix}"), site))
    n_test = sum(c.patients["test"] for c in counts.values())
    if counts and n_test < MIN_TEST_PATIENTS_OVERALL:
        warnings.append(DataWarning("few_test_patients_overall", (
            f"the test set holds {n_test} patient{'s' if n_test != 1 else ''}, fewer than "
            f"{MIN_TEST_PATIENTS_OVERALL}: confidence intervals will be wide and a choice "
            "between similar models will mostly be 'not enough evidence'; import more "
            "patients, or raise data.split.fractions.test")))
    return warnings
