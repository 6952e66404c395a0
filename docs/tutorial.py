"""# Python API tutorial

Work without the CLI: rank a per-case table you already have, then score two folders of
predictions made elsewhere on a dataset and rank them with patient-level statistics. Every
function used here is in `medselect` itself (see the [Python API reference](../reference/api.md)).
Run it with `python docs/tutorial.py`; it writes only to a temporary folder.
"""

import shutil
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from scipy import ndimage

import medselect as ms
from medselect.data.phantom import KNEE_CLASSES, synth_knee_dataset

# 1. Any per-case table ranks: model, case_id, metric, label, value (+ patient_id, site).
rng = np.random.default_rng(0)
table = pd.DataFrame([
    {"model": model, "case_id": f"c{case}", "patient_id": f"p{case // 2}",
     "site": f"site-{case % 2}", "metric": "dice", "label": "mean",
     "value": 0.85 + shift + rng.normal(0, 0.02)}
    for model, shift in (("unet", 0.0), ("segresnet", 0.03)) for case in range(40)])
report = ms.rank(table, "dice")  # dice: higher is better, from the metric catalogue
print(report.leaderboard.to_frame()[["aggregate", "ci_low", "ci_high", "standing"]])
print("per site:", {c.group: c.model for c in ms.select_by_site(table, "dice").choices})

# 2. A dataset imported patient-level (here the built-in phantom, as files on disk).
root = Path(tempfile.mkdtemp(prefix="medselect-tutorial-"))
synth_knee_dataset(root / "knee", cases_per_site=4, size=32, seed=0)
ws = ms.open_workspace(root / "ws", create=True)
imported = ms.import_data(ws, root / "knee" / "manifest.csv", task="knee",
                          classes=list(KNEE_CLASSES))
print(imported.version_id, imported.patients)

# 3. Two folders of predictions made elsewhere: the labels themselves, and an eroded copy.
manifest = pd.read_csv(root / "knee" / "manifest.csv")
for name, erode in (("exact", 0), ("eroded", 1)):
    folder = root / name
    folder.mkdir()
    for row in manifest.itertuples():
        label = nib.load(root / "knee" / row.label)
        mask = np.asarray(label.dataobj)
        if erode:
            mask = np.where(ndimage.binary_erosion(mask > 0), mask, 0).astype(mask.dtype)
        nib.save(nib.Nifti1Image(mask, label.affine), folder / f"{row.case_id}.nii.gz")
    ms.evaluate_models(ws, predictions=folder, name=name, case_sets=["test"])

# 4. The per-case table of the test set, ranked: the exact masks win, with patient-level CIs.
cases = ms.case_table(ws, "knee", case_set="test", metrics=["dice", "hd95"])
ranked = ms.rank(cases, "hd95", aggregate="p90")  # the bad tail of a lower-is-better metric
print(ranked.leaderboard.to_frame()[["aggregate", "ci_low", "ci_high"]])
assert ranked.leaderboard.best == "external:exact"
ws.dispose()
shutil.rmtree(root)
