"""The per-case table: the one contract between evaluation and everything above it.

Evaluation writes one value per model, case, metric and label; ranking, the registry's gate and
the dashboard read the same long table. Its columns are defined here, once, for every layer::

    model    case_id    metric  label   value   patient_id  site     [reference]
    run-a    p01-s03    dice    mean    0.91    p01         site-a
    run-a    p01-s03    dice    femur   0.95    p01         site-a

``model``, ``case_id``, ``metric``, ``label`` and ``value`` are required; every further column is
an attribute of the case (the same on all of its rows). :data:`PATIENT` says which cases belong
to one patient: statistics resample and test *patients*, never slices or visits one by one, and
a table without it (or a NaN) makes each case its own patient. :data:`SITE` is the clinical site
(bootstrap strata, per-site selection); :data:`REFERENCE` the reference class name of a
classification case, read by set metrics such as AUC.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ATTRIBUTE_COLUMNS",
    "CASE_LABEL",
    "KEY_COLUMNS",
    "MEAN_LABEL",
    "PATIENT",
    "REFERENCE",
    "SITE",
    "Direction",
    "require_columns",
    "validate_case_table",
]

KEY_COLUMNS = ("model", "case_id", "metric", "label", "value")
"""The columns every per-case table has."""

PATIENT = "patient_id"
"""Case attribute: the patient a case belongs to (the unit of every inference)."""

SITE = "site"
"""Case attribute: the clinical site of a case."""

REFERENCE = "reference"
"""Case attribute: the reference class name of a case that has one (classification)."""

ATTRIBUTE_COLUMNS = (PATIENT, SITE)
"""The case attributes the store always writes (:data:`REFERENCE` only when cases have one)."""

MEAN_LABEL = "mean"
"""Label of a summary value: the mean over foreground classes, or over landmarks."""

CASE_LABEL = "case"
"""Label of a value that belongs to the whole case (a classification probability)."""


class Direction(StrEnum):
    """Whether a higher or a lower value of a metric is better."""

    HIGHER = "higher"
    LOWER = "lower"


def require_columns(table: pd.DataFrame) -> None:
    """Refuse what is not a DataFrame with the key columns (cheap: every ranking call checks).

    Raises:
        RankingError: naming the missing columns and the ones the table has.
    """
    import pandas as pd

    from medselect.errors import RankingError

    if not isinstance(table, pd.DataFrame):
        raise RankingError(f"the per-case table must be a pandas DataFrame, got "
                           f"{type(table).__name__}")
    missing = [c for c in KEY_COLUMNS if c not in table.columns]
    if missing:
        raise RankingError(f"the per-case table lacks column(s) {missing}; it needs "
                           f"{list(KEY_COLUMNS)} and optionally case attributes such as "
                           f"{list(ATTRIBUTE_COLUMNS)}, got {list(table.columns)}")


def validate_case_table(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` when it is a per-case table: the key columns present (:func:`require_columns`),
    values numeric (NaN is a missing value), no (model, case, metric, label) twice.

    Raises:
        RankingError: a column is missing, a value is not a number, or a key repeats (the
            message names the first ones).

    Example::

        >>> import pandas as pd
        >>> t = pd.DataFrame({"model": ["a"], "case_id": ["c1"], "metric": ["dice"],
        ...                   "label": ["mean"], "value": [0.9]})
        >>> validate_case_table(t) is t
        True
    """
    import pandas as pd

    from medselect.errors import RankingError

    require_columns(table)
    values = pd.to_numeric(table["value"], errors="coerce")
    bad = table.loc[values.isna() & table["value"].notna(), "value"]
    if len(bad):
        raise RankingError(f"column 'value' holds {len(bad)} non-numbers such as "
                           f"{bad.iloc[0]!r}; give numbers (NaN for a missing value)")
    twice = table.duplicated(list(KEY_COLUMNS[:4]), keep=False)
    if twice.any():
        first = table.loc[twice, list(KEY_COLUMNS[:4])].iloc[0].tolist()
        raise RankingError(f"{int(twice.sum())} rows repeat a (model, case_id, metric, label) "
                           f"key, e.g. {first}; give one value per key")
    return table
