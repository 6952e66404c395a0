"""`medselect export`: the champions as a MONAI bundle that MONAI's own tooling runs to the same
label maps as `medselect predict`, as ONNX that ONNX Runtime runs to PyTorch's logits, and as
TorchScript; routing.json maps each site to its model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from medselect.data.image import Image
from medselect.data.phantom import synth_knee_dataset
from medselect.data.readers import read_image
from medselect.data.writers import write_image
from medselect.evaluate import TrainedPredictor, load_task
from medselect.store import get_run
from medselect.train import predict_logits

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Two site-b images: 32x32 (larger than the 16x16 input) and 12x20 (smaller on one side,
    so resizing back to it is a downsampling), each in a geometry of its own."""
    root = tmp_path_factory.mktemp("export-cases")
    [case] = [r for r in synth_knee_dataset(root / "phantom", cases_per_site=1, size=32, seed=3)
              if r.site == "site-b"]
    image = read_image(case.images[0]).array
    folder = root / "images"
    write_image(Image(image, spacing=(0.6, 0.8), origin=(5.0, -2.0)), folder / "big.nii.gz")
    write_image(Image(image[10:22, 6:26].copy(), spacing=(1.5, 0.5)), folder / "small.nii.gz")
    return folder


def loaded(ws, run_id) -> TrainedPredictor:
    """The run's network, loaded as medselect's inference loads it."""
    with ws.connect() as conn:
        run = get_run(conn, run_id)
    predictor = TrainedPredictor(ws, run, load_task(ws), device="cpu")
    predictor.load()
    return predictor


def test_the_bundle_runs_with_monai_to_medselects_prediction(
        run_cli, champions, champions_ws, images, tmp_path):
    from monai.bundle import ConfigParser, run

    out = tmp_path / "bundles"
    done = run_cli("export", "--out", out, "--format", "monai-bundle", "--scope", "global",
                   "--scope", "site:site-b", "-w", champions.ws, "--json")
    assert done.code == 0, done.stderr
    routing = json.loads((out / "routing.json").read_text())
    assert (routing["default"], routing["sites"]) == ("global", {"site-b": "site-site-b"})
    assert routing["models"]["site-site-b"]["model_ref"] == champions.strong
    bundle = out / "site-site-b"
    for name in ("configs/metadata.json", "configs/inference.json", "models/model.ts",
                 "models/model.pt", "docs/README.md"):
        assert (bundle / name).is_file(), name
    metadata = json.loads((bundle / "configs" / "metadata.json").read_text())
    for key in ("version", "monai_version", "pytorch_version", "numpy_version",
                "optional_packages_version", "task", "description", "authors", "copyright",
                "network_data_format"):
        assert key in metadata, key
    assert metadata["medselect"]["scope"] == "site:site-b"
    readme = (bundle / "docs" / "README.md").read_text()  # the model card, without links
    assert readme.startswith("# Model card: knee, site:site-b, v1") and "](" not in readme

    run(config_file=str(bundle / "configs" / "inference.json"),
        meta_file=str(bundle / "configs" / "metadata.json"), bundle_root=str(bundle),
        dataset_dir=str(images), output_dir=str(tmp_path / "monai"))
    ours = tmp_path / "medselect"
    assert run_cli("predict", images, "--out", ours, "-w", champions.ws, "--scope",
                   "site:site-b").code == 0
    for name in ("big", "small"):
        theirs = read_image(tmp_path / "monai" / f"{name}_seg.nii.gz", kind="label")
        mine = read_image(ours / f"{name}.nii.gz", kind="label")
        np.testing.assert_array_equal(theirs.array, mine.array)
        for field in ("spacing", "origin", "direction"):
            assert getattr(theirs, field) == pytest.approx(getattr(mine, field), abs=1e-6)

    network = loaded(champions_ws, champions.strong)
    parser = ConfigParser()  # the logits behind those label maps, step by step
    parser.read_config(str(bundle / "configs" / "inference.json"))
    parser.update({"bundle_root": str(bundle)})
    prepare, model, finish = (parser.get_parsed_content(k) for k in
                              ("preprocessing", "network", "postprocessing"))
    for name in ("big", "small"):
        item = prepare({"image": str(images / f"{name}.nii.gz")})
        with torch.no_grad():
            item["pred"] = model(item["image"][None])[0]
        for step in finish.transforms[:3]:  # up to the argmax
            item = step(item)
        raw = read_image(images / f"{name}.nii.gz").array[None]
        expected = predict_logits(network.network, [raw], network.config)[0]
        np.testing.assert_allclose(np.asarray(item["pred"]), expected, atol=1e-4)


def test_onnx_and_its_model_json_reproduce_medselects_prediction(
        run_cli, champions, champions_ws, images, tmp_path):
    import onnxruntime
    from monai import transforms

    done = run_cli("export", "--out", tmp_path, "--format", "onnx", "--scope", "site:site-b",
                   "-w", champions.ws, "--json")
    assert done.code == 0, done.stderr
    [model] = json.loads(done.stdout)["models"]
    assert model["path"] == "site-site-b/model.onnx" and model["difference"] <= 1e-4
    assert not (tmp_path / "routing.json").exists()  # one scope: nothing to route
    described = json.loads((tmp_path / "site-site-b" / "model.json").read_text())
    assert described["model_ref"] == champions.strong
    assert described["network"]["input"]["shape"] == ["batch", 1, 16, 16]
    session = onnxruntime.InferenceSession(str(tmp_path / model["path"]))
    network = loaded(champions_ws, champions.strong)

    raw = read_image(images / "small.nii.gz").array[None]
    x = torch.from_numpy(raw)
    for step in described["network"]["preprocessing"]:  # as model.json tells a stranger
        arguments = {k: v for k, v in step.items() if k != "monai"}
        x = getattr(transforms, step["monai"])(**arguments)(x)
    x = torch.as_tensor(np.asarray(x))[None]
    [logits] = session.run(None, {"image": x.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(logits, network.network(x).numpy(), atol=1e-4)
    back = transforms.Resize(raw.shape[1:], mode="bilinear", anti_aliasing=True)(
        torch.from_numpy(logits[0]))
    np.testing.assert_allclose(np.asarray(back),
                               predict_logits(network.network, [raw], network.config)[0],
                               atol=1e-4)


def test_torchscript_matches_pytorch_and_bad_requests_are_refused(
        run_cli, champions, champions_ws, tmp_path):
    done = run_cli("export", "--out", tmp_path, "--format", "torchscript", "-w", champions.ws)
    assert done.code == 0, done.stderr
    traced = torch.jit.load(str(tmp_path / "global" / "model.ts"))
    described = json.loads((tmp_path / "global" / "model.json").read_text())
    assert (described["scope"], described["model_ref"]) == ("global", champions.weak)
    x = torch.randn(3, 1, 16, 16, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected = loaded(champions_ws, champions.weak).network(x)
        np.testing.assert_allclose(traced(x).numpy(), expected.numpy(), atol=1e-4)

    unknown = run_cli("export", "--out", tmp_path, "--format", "onx", "-w", champions.ws)
    assert unknown.code == 1 and "did you mean 'onnx'?" in unknown.stderr
    missing = run_cli("export", "--out", tmp_path, "--format", "onnx", "--scope",
                      "site:site-a", "-w", champions.ws)
    assert missing.code == 1
    assert "no champion in scope 'site:site-a'" in missing.stderr
    assert "`medselect promote RUN --scope site:site-a`" in missing.stderr
