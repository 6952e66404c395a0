"""Layer 5: the registry's champions put to work in the field.

- :func:`predict_cases`: new cases, each predicted by the champion of its site (else the
  global one, said per case), written in the input's geometry with ``predictions.json``
  (label maps as NIfTI, PNG or a DICOM SEG of the input series:
  :class:`~medselect.deploy.outputs.SegFormat`).
- :func:`export_champions`: each scope's champion as a MONAI bundle, ONNX or TorchScript,
  checked against PyTorch, with ``routing.json`` (site -> model) for several scopes.
"""

from medselect.deploy.export import (
    ROUTING_FILE,
    ExportedModel,
    ExportFormat,
    ExportReport,
    export_champions,
)
from medselect.deploy.prediction import (
    PREDICTIONS_FILE,
    CasePrediction,
    PredictionReport,
    predict_cases,
)

__all__ = [
    "PREDICTIONS_FILE",
    "ROUTING_FILE",
    "CasePrediction",
    "ExportFormat",
    "ExportReport",
    "ExportedModel",
    "PredictionReport",
    "export_champions",
    "predict_cases",
]
