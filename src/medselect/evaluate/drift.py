"""Drift: how far new cases lie from reference cases, feature by feature and site by site.

Each image is summarised by a few features (:func:`image_features`): intensity percentiles
and the mean and standard deviation inside the foreground (Otsu's threshold, scikit-image),
the voxel spacing and the image size per axis. :func:`feature_drift` then compares, feature by
feature, the new cases of each site with the reference cases of the same site (all reference
cases when the site has none, and for the pooled ``(all)`` row). The reference is the training
split for input drift, the test split's predictions for output signals
(:mod:`medselect.evaluate.newcases`):

- ``std_diff``: the standardized difference (Glass's delta), ``(mean_new - mean_ref) /
  sd_ref``; infinite when the reference has a single value (one spacing) and the new cases
  another;
- ``ks`` and ``p_value``: the two-sample Kolmogorov-Smirnov statistic (largest gap between the
  two empirical distributions, 0 to 1) and its p-value (``scipy.stats.ks_2samp``);
- ``outside``: the share of new patients outside the reference range.

A feature *drifts* when the KS p-value is below :data:`DRIFT_ALPHA` or at least
:data:`DRIFT_OUTSIDE` of the new patients lie outside the reference range (what one new
patient can show). Patients are the unit: a patient's cases are averaged first, so a patient
scanned twice is not counted as two pieces of evidence.

What these numbers do not show: whether a model's output is wrong (drift is a reason to look,
not a verdict; the output signals and expert review say more); drift of anything the features
do not summarise (anatomy, artefacts, contrast inside the foreground); p-values are per feature
and not corrected over features or sites, and with a handful of patients the KS test cannot
show drift at all, while with hundreds it flags differences too small to matter.

Example::

    >>> import numpy as np
    >>> from medselect.data.image import Image
    >>> f = image_features([Image(np.arange(16, dtype="float32").reshape(4, 4), (1.0, 2.0))])
    >>> f["spacing_y"], f["size_x"]
    (2.0, 4.0)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from skimage.filters import threshold_otsu

from medselect.data.image import Image

__all__ = ["DRIFT_ALPHA", "DRIFT_COLUMNS", "DRIFT_OUTSIDE", "PERCENTILES", "drift_summary",
           "feature_drift", "image_features"]

PERCENTILES = (1, 50, 99)
DRIFT_OUTSIDE = 0.5
"""Share of new patients outside the reference range from which a feature drifts."""
DRIFT_ALPHA = 0.05
"""KS p-value below which a feature is said to drift (uncorrected, per feature and site)."""
_AXES = "xyz"
ALL = "(all)"
DRIFT_COLUMNS = ["site", "against", "feature", "n_ref", "n_new", "ref_mean", "ref_sd",
                 "new_mean", "std_diff", "ks", "p_value", "outside", "drift"]


def image_features(channels: Sequence[Image]) -> dict[str, float]:
    """Intensity, spacing and size features of one case (its channels).

    Intensity features of channel 0 are ``intensity_p1``, ``intensity_p50``, ``intensity_p99``,
    ``fg_mean`` and ``fg_std`` (inside Otsu's foreground, all voxels when the image is
    constant); further channels get a ``c<N>_`` prefix. Geometry: ``spacing_x``.. (mm) and
    ``size_x``.. (voxels) of channel 0.

    Raises:
        ValueError: no channel is given.
    """
    if not channels:
        raise ValueError("image_features needs at least one channel, got none")
    out: dict[str, float] = {}
    for index, image in enumerate(channels):
        prefix = f"c{index}_" if index else ""
        values = np.asarray(image.array, dtype=np.float64).ravel()
        for q, v in zip(PERCENTILES, np.percentile(values, PERCENTILES), strict=True):
            out[f"{prefix}intensity_p{q}"] = float(v)
        foreground = values[values > threshold_otsu(values)] if np.ptp(values) > 0 else values
        out[f"{prefix}fg_mean"] = float(foreground.mean())
        out[f"{prefix}fg_std"] = float(foreground.std())
    first = channels[0]
    for axis, (spacing, size) in enumerate(zip(first.spacing, first.shape, strict=True)):
        out[f"spacing_{_AXES[axis]}"] = float(spacing)
        out[f"size_{_AXES[axis]}"] = float(size)
    return out


def feature_drift(reference: pd.DataFrame, new: pd.DataFrame, *,
                  by: str = "site") -> pd.DataFrame:
    """Per site of ``new`` (and ``(all)``), per feature: how far the new cases lie from the
    ``reference`` cases.

    Each site's new cases are compared with the reference cases of that site (``against``
    names it), or with every reference case when the site has none (``against`` is
    ``(all)``), so a site whose scanner always differed from the others is not flagged for
    being itself.

    Args:
        reference, new: one row per case: ``patient_id``, ``by`` and one numeric column per
            feature (the features both frames share are compared).
        by: the column whose values split the cases.

    Returns:
        :data:`DRIFT_COLUMNS`, sites in order then ``(all)``, features in ``new``'s order.

    Raises:
        ValueError: a frame lacks ``patient_id`` (or ``new`` lacks ``by``), or either is empty.
    """
    for name, frame, needed in (("reference", reference, ["patient_id", by]),
                                ("new", new, ["patient_id", by])):
        missing = [c for c in needed if c not in frame.columns]
        if missing or frame.empty:
            raise ValueError(f"{name}: need a non-empty table with columns {needed}, got "
                             f"{len(frame)} rows and columns {list(frame.columns)}")
    features = [c for c in new.columns if c in reference.columns and c not in ("patient_id", by)
                and pd.api.types.is_numeric_dtype(new[c])]
    by_site = {str(site): rows for site, rows in reference.groupby(by, sort=True)}
    groups = [(str(site), rows) for site, rows in new.groupby(by, sort=True)]
    rows = []
    for site, frame in [*groups, (ALL, new)]:
        against = site if site in by_site else ALL
        rows += _compare(site, against, _per_patient(by_site.get(site, reference), features),
                         _per_patient(frame, features), features)
    return pd.DataFrame(rows, columns=DRIFT_COLUMNS)


def drift_summary(table: pd.DataFrame) -> dict[str, list[str]]:
    """Site -> the features that drift there (empty list: none), from :func:`feature_drift`."""
    return {str(site): [str(f) for f in rows.loc[rows["drift"], "feature"]]
            for site, rows in table.groupby("site", sort=False)}


def _per_patient(frame: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    return frame.groupby("patient_id", sort=True)[list(features)].mean()


def _compare(site: str, against: str, reference: pd.DataFrame, new: pd.DataFrame,
             features: Sequence[str]) -> list[Mapping[str, object]]:
    rows = []
    for feature in features:
        a, b = reference[feature].dropna().to_numpy(), new[feature].dropna().to_numpy()
        if not len(a) or not len(b):
            continue
        sd = float(a.std(ddof=1)) if len(a) > 1 else 0.0
        delta = float(b.mean() - a.mean())
        std_diff = delta / sd if sd > 0 else (0.0 if delta == 0 else float(np.copysign(np.inf,
                                                                                       delta)))
        ks = stats.ks_2samp(a, b)
        outside = float(np.mean((b < a.min()) | (b > a.max())))
        rows.append({"site": site, "against": against, "feature": feature,
                     "n_ref": len(a), "n_new": len(b),
                     "ref_mean": float(a.mean()), "ref_sd": sd, "new_mean": float(b.mean()),
                     "std_diff": std_diff, "ks": float(ks.statistic),
                     "p_value": float(ks.pvalue), "outside": outside,
                     "drift": bool(outside >= DRIFT_OUTSIDE or ks.pvalue < DRIFT_ALPHA)})
    return rows
