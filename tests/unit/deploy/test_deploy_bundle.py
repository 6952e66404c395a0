"""The MONAI bundle's inference config prepares images exactly as medselect does, for every
normalisation, and is refused for what it cannot serve."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medselect.config import RunConfig, TaskSpec
from medselect.deploy.bundle import bundle_configs
from medselect.errors import ExportError
from medselect.train import preprocess_image

TASK = TaskSpec(name="knee", classes=["background", "femur", "tibia"])
PROVENANCE = {"task": "knee", "scope": "global", "version": 3, "summary": "accepted",
              "promoted_by": "alice"}


@pytest.mark.parametrize("normalization", ["zscore", "minmax", "percentile"])
@pytest.mark.parametrize("size", [(12, 20), (40, 24)])  # smaller and larger than the input
def test_the_bundle_preprocesses_as_medselect(normalization, size):
    from monai.bundle import ConfigParser

    config = RunConfig(input_size=(16, 16), normalization=normalization, depth=2)
    metadata, inference = bundle_configs(TASK, config, PROVENANCE)
    parser = ConfigParser(inference)
    steps = parser.get_parsed_content("preprocessing").transforms[2:]  # after reading the file
    image = np.random.default_rng(0).gamma(2.0, 50.0, size=(1, *size)).astype(np.float32)
    item = {"image": torch.from_numpy(image)}
    for step in steps:
        item = step(item)
    np.testing.assert_allclose(np.asarray(item["image"]),
                               preprocess_image(image, config).numpy(), atol=1e-6)
    assert metadata["version"] == "3.0.0" and metadata["medselect"]["scope"] == "global"
    outputs = metadata["network_data_format"]["outputs"]["pred"]
    assert outputs["num_channels"] == 3 and outputs["channel_def"]["2"] == "tibia"


@pytest.mark.parametrize("task", [
    TaskSpec(name="grades", kind="classification", classes=["normal", "thin"]),
    TaskSpec(name="points", kind="landmarks", landmarks=["tip"]),
    TaskSpec(name="two", classes=["background", "bone"], in_channels=2)])
def test_a_bundle_serves_one_channel_segmentation_only(task):
    with pytest.raises(ExportError, match="export with `format=` onnx or torchscript"):
        bundle_configs(task, RunConfig(), PROVENANCE)


def test_importing_deploy_loads_no_torch():  # the CLI imports it for every predict and export
    import subprocess
    import sys

    code = "import sys, medselect.deploy; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"
