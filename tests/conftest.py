"""Fixtures shared by every test folder: tiny phantom data, tiny experiments, a CLI runner."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from medselect.cli.main import main


@dataclass
class CLIResult:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(capsys):
    """Run ``medselect ARGS`` in-process; return exit code and captured output."""

    def run(*args: str | Path) -> CLIResult:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out = capsys.readouterr()
        return CLIResult(code, out.out, out.err)

    return run


@pytest.fixture(scope="session")
def tiny_phantom(tmp_path_factory) -> Path:
    """A 32x32 knee phantom, 4 sites x 6 patients: its folder (``manifest.csv`` inside)."""
    from medselect.data.phantom import synth_knee_dataset

    folder = tmp_path_factory.mktemp("phantom32")
    synth_knee_dataset(folder, cases_per_site=6, size=32, seed=0)
    return folder


CLASSES = "[background, femur, tibia, patella, femoral_cartilage, tibial_cartilage]"


def tiny_experiment(folder: Path, *, space: str, name: str = "tiny", extra: str = "") -> Path:
    """Write an experiment YAML training ``space`` on a 16-case 32x32 phantom."""
    path = folder / f"{name}.yaml"
    path.write_text(f"""
task: {{name: knee, kind: segmentation, spatial_dims: 2, classes: {CLASSES}}}
data: {{source: {{kind: phantom, cases_per_site: 4, size: 32, seed: 0}}}}
sweep:
  name: {name}
  strategy: grid
  space: {{{space}, batch_size: 4, input_size: [32, 32], depth: 2, features: 8}}
  workers: 2
  threads_per_worker: 1
{extra}""")
    return path


@pytest.fixture(scope="session")
def write_tiny_experiment():
    """:func:`tiny_experiment`, for fixtures of any scope."""
    return tiny_experiment


@pytest.fixture
def experiment_file(tmp_path):
    return lambda **kw: tiny_experiment(tmp_path, **kw)


PLUGIN_MODULE = "fake_medselect_plugin"
PLUGIN_SOURCE = '''
"""A third-party task kind: keypoints drawn as small label blobs, so segmentation's family."""
from medselect.tasks import SegmentationPlugin


class KeypointPlugin(SegmentationPlugin):
    kind = "keypoints"
    losses = ("dice_focal", "dice")


class LandmarkFamilyPlugin(SegmentationPlugin):
    kind = "pointmaps"
    family = "landmarks"


NotAPlugin = object()
'''


@pytest.fixture
def install_task_plugins(tmp_path, monkeypatch):
    """Install a fake distribution whose ``medselect.tasks`` entry points are the given
    ``name -> "module:object"`` lines (:data:`PLUGIN_MODULE` holds the plugin classes)."""
    from medselect.tasks import ENTRY_POINT_GROUP

    def install(entry_points: Mapping[str, str]) -> None:
        site = tmp_path / "site-packages"
        site.mkdir()
        (site / f"{PLUGIN_MODULE}.py").write_text(PLUGIN_SOURCE)
        info = site / "fake_medselect_plugin-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-medselect-plugin\n"
                                       "Version: 0.1\n")
        lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}")
        monkeypatch.syspath_prepend(str(site))

    yield install
    sys.modules.pop(PLUGIN_MODULE, None)  # the next test imports its own copy


@pytest.fixture
def keypoints_kind(install_task_plugins) -> str:
    """A third-party ``keypoints`` kind of the segmentation family, installed; its name."""
    install_task_plugins({"keypoints": f"{PLUGIN_MODULE}:KeypointPlugin"})
    return "keypoints"


_CASES_MODELS = ("external:nnunet", "run-a", "run-b")


def _case_value(model: str, case_id: str, metric: str, label: str) -> float:
    """A stored value made of the model (each one 0.1 above the one before), case, metric
    and label; hd95 of the last test case is undefined (NaN)."""
    if metric == "hd95" and case_id == "test-b-p2-s0":
        return float("nan")
    return (0.1 * _CASES_MODELS.index(model) + 0.0001 * sum(map(ord, case_id))
            + 0.01 * ("femur", "tibia", "mean").index(label) + (5.0 if metric == "hd95" else 0))


def cases_workspace(root: Path) -> Path:
    """A workspace written straight into the store: task ``knee`` (segmentation, femur and
    tibia), sites a and b, the first test patient of each site with two cases, attributes
    ``model`` (the site's scanner, a name the metric table already has) and ``age`` (missing
    on ``test-a-p1-s0``), unlabelled ``train-*-p0-s0``, val, test and a frozen
    reference set; dice and hd95 of femur, tibia and mean of models external:nnunet, run-a and
    run-b on the test set (each model's values 0.1 above the one before), run-a's also on val,
    an older run-a evaluation (values -1) that the newer one replaces, and a pending one
    (run-c) that never counts."""
    from medselect.config import TaskSpec
    from medselect.store import (
        Workspace,
        add_case_set,
        add_dataset_version,
        put_evaluation,
        put_task,
        replace_case_metrics,
        set_reference_case_set,
    )

    def cases(split: str, patients: int) -> list[dict]:
        return [{"case_id": f"{split}-{site}-p{p}-s{s}", "patient_id": f"{split}-{site}-p{p}",
                 "site": site, "split": split, "image_uris": [f"i/{split}{site}{p}{s}.png"],
                 "label_uri": None if split == "train" and p == 0 else f"l/{split}{site}{p}.png",
                 "content_hash": f"{split}{site}{p}{s}",
                 "attributes": {"model": f"scanner-{site}"}
                 | ({} if (split, site, p) == ("test", "a", 1) else {"age": str(50 + p)})}
                for site in ("a", "b") for p in range(patients)
                for s in range(2 if split == "test" and p == 0 else 1)]

    rows = cases("train", 2) + cases("val", 2) + cases("test", 3)
    ws = Workspace.create(root)
    task = TaskSpec(name="knee", kind="segmentation", spatial_dims=2,
                    classes=["background", "femur", "tibia"])

    def evaluate(conn, eid: str, model: str, case_set: str, status: str = "finished",
                 value=_case_value) -> None:
        put_evaluation(conn, {"id": eid, "model_ref": model, "case_set": case_set,
                              "dataset_version": "v1", "status": status})
        split = case_set.removeprefix("v1-")
        replace_case_metrics(conn, eid, [
            {"case_id": r["case_id"], "metric": metric, "label": label,
             "value": value(model, r["case_id"], metric, label)}
            for r in rows if r["split"] == split
            for metric in ("dice", "hd95") for label in ("femur", "tibia", "mean")])

    with ws.begin() as conn:
        put_task(conn, "knee", "segmentation", task.model_dump(mode="json"))
        add_dataset_version(conn, {"id": "v1", "task": "knee"}, rows)
        for split in ("val", "test"):
            add_case_set(conn, {"id": f"v1-{split}", "name": split, "task": "knee",
                                "dataset_version": "v1", "kind": split},
                         [r["case_id"] for r in rows if r["split"] == split])
        add_case_set(conn, {"id": "ref", "name": "reference", "task": "knee",
                            "dataset_version": "v1", "kind": "reference", "frozen": True},
                     [r["case_id"] for r in rows if r["split"] == "test"])
        set_reference_case_set(conn, "v1", "ref")
        evaluate(conn, "e-a-old", "run-a", "v1-test", value=lambda *_: -1.0)
        for model in _CASES_MODELS:
            evaluate(conn, f"e-{model}", model, "v1-test")
        evaluate(conn, "e-run-a-val", "run-a", "v1-val")
        evaluate(conn, "e-pending", "run-c", "v1-test", status="pending", value=lambda *_: 0.5)
    ws.dispose()
    return root


@pytest.fixture(scope="session")
def make_cases_workspace():
    """:func:`cases_workspace`, for a test that changes its workspace."""
    return cases_workspace


@pytest.fixture(scope="session")
def evaluated_cases(tmp_path_factory) -> Path:
    """:func:`cases_workspace`'s folder (read it, do not change it)."""
    return cases_workspace(tmp_path_factory.mktemp("cases") / "ws")


@pytest.fixture(scope="session")
def postgres_server():
    """A private PostgreSQL server for the session (skipped where PostgreSQL is missing)."""
    from postgres_server import PostgresServer, binaries

    pytest.importorskip("psycopg", reason="pip install 'medselect[postgres]'")
    found = binaries()
    if found is None:
        pytest.skip("PostgreSQL is not installed (make postgres installs it)")
    server = PostgresServer(found).start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str | None:
    """A database URL for a new workspace on each engine: None (SQLite in the workspace) or a
    fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("postgres_server").new_database()
