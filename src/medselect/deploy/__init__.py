"""Layer 5: the registry's champions put to work in the field.

- :func:`predict_cases`: new cases, each predicted by the champion of its site (else the
  global one, said per case), written in the input's geometry with ``predictions.json``.
"""

from medselect.deploy.prediction import (
    PREDICTIONS_FILE,
    CasePrediction,
    PredictionReport,
    predict_cases,
)

__all__ = ["PREDICTIONS_FILE", "CasePrediction", "PredictionReport", "predict_cases"]
