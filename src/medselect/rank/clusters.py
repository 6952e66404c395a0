"""Patients as clusters of cases: the unit every statistic resamples and tests.

Slices and visits of one patient are alike; counted as independent evidence they make
intervals too narrow and tests too sure. :class:`Clusters` maps each case to its patient and
each patient to its stratum (site), for the cluster bootstrap
(:func:`medselect.rank.bootstrap.resample_weights`) and for tests on per-patient differences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

__all__ = ["Clusters"]


@dataclass(frozen=True, eq=False)
class Clusters:
    """Which cases belong to one patient, and the stratum (site) of each patient.

    Attributes:
        of_case: per case, the index of its patient (0 .. n_patients - 1).
        strata: per patient, its stratum code; all 0 when the resampling is not stratified.
        assumed: True when no case shares a patient with another, so each case was taken as
            its own patient (no patient ids, or one case per patient).
        unstratified_because: why strata asked for were not used, or None.
    """

    of_case: np.ndarray
    strata: np.ndarray
    assumed: bool = False
    unstratified_because: str | None = None

    @property
    def n_patients(self) -> int:
        return len(self.strata)

    @property
    def n_strata(self) -> int:
        return len(np.unique(self.strata))

    @classmethod
    def of(cls, n_cases: int, patients: object = None, strata: object = None) -> Clusters:
        """Clusters from per-case patient ids and per-case strata (either may be None).

        A case without a patient id (None, NaN; or no ids at all) is its own patient. A patient
        whose cases lie in several strata is counted in the stratum of its first case. When a
        stratum holds a single patient (which every resample would repeat, giving a falsely
        narrow interval), patients are resampled without strata.
        """
        ids = pd.Series([None] * n_cases if patients is None else list(patients), dtype=object)
        missing = ids.isna().to_numpy()
        ids[missing] = [f"\0{i}" for i in np.flatnonzero(missing)]  # never a real id
        of_case, unique = pd.factorize(ids, sort=False)
        assumed = len(unique) == n_cases
        unstratified = np.zeros(len(unique), dtype=np.intp)
        if strata is None:
            return cls(of_case, unstratified, assumed)
        case_strata, _ = pd.factorize(pd.Series(list(strata), dtype=object),
                                      use_na_sentinel=False)
        patient_strata = case_strata[_first_cases(of_case)].astype(np.intp)
        singles = int((np.bincount(patient_strata) == 1).sum())
        if singles:
            return cls(of_case, unstratified, assumed,
                       f"{singles} stratum/strata hold a single patient, so patients were "
                       "resampled without stratification")
        return cls(of_case, patient_strata, assumed)

    @property
    def first_case(self) -> np.ndarray:
        """Per patient, the index of its first case."""
        return _first_cases(self.of_case)

    @property
    def sizes(self) -> np.ndarray:
        """Per patient, its number of cases."""
        return np.bincount(self.of_case, minlength=self.n_patients)

    def patient_sums(self, values: np.ndarray) -> np.ndarray:
        """The sum of each column over each patient's cases: (n_patients, n_columns)."""
        n_cases = len(self.of_case)
        members = sparse.csr_matrix((np.ones(n_cases), (self.of_case, np.arange(n_cases))),
                                    shape=(self.n_patients, n_cases))
        return members @ values

    def patient_means(self, values: np.ndarray) -> np.ndarray:
        """The mean of each column over each patient's cases: (n_patients, n_columns)."""
        return self.patient_sums(values) / self.sizes[:, None]


def _first_cases(of_case: np.ndarray) -> np.ndarray:
    return np.unique(of_case, return_index=True)[1]
