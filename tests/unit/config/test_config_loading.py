"""Loading experiment files: round trips, the example, and errors that name file, field, value."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import medselect.config as config
from medselect.config import (
    Experiment,
    default_demo_experiment,
    dump_experiment,
    load_experiment,
    parse_experiment,
)
from medselect.errors import ConfigError

EXAMPLE = Path(__file__).parents[3] / "examples" / "knee-segmentation.yaml"
MINIMAL = """\
task: {name: knee, classes: [background, femur]}
data:
  source: {kind: phantom}
"""


def write(tmp_path: Path, text: str, name: str = "experiment.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def parse_error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as exc:
        parse_experiment(text, "exp.yaml")
    return exc.value


def load_error(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as exc:
        load_experiment(write(tmp_path, text))
    return exc.value


def without_source(experiment: Experiment) -> Experiment:
    return experiment.model_copy(update={"source": None})


# --- round trips and the example -------------------------------------------------------------

def test_example_loads_and_equals_the_demo_default():
    experiment = load_experiment(EXAMPLE)
    assert experiment.source == EXAMPLE.resolve()
    assert without_source(experiment) == default_demo_experiment()


def test_demo_default_is_the_knee_task_with_eight_distinct_configs():
    demo = default_demo_experiment()
    assert demo.task.classes == ["background", "femur", "tibia", "patella",
                                 "femoral_cartilage", "tibial_cartilage"]
    assert demo.data.source.kind == "phantom"
    assert demo.sweep.strategy == "list"
    assert demo.sweep.space.input_size == [(96, 96)]
    configs = demo.sweep.config_dicts()
    assert len(configs) == 8
    assert len({tuple(sorted(c.items())) for c in configs}) == 8
    for field in ("architecture", "loss", "augmentation"):
        assert len({c[field] for c in configs}) >= 3


def test_landmarks_demo_names_the_phantoms_landmarks_and_ranks_by_mre():
    from medselect.config import default_landmarks_experiment
    from medselect.data.phantom import KNEE_LANDMARKS

    demo = default_landmarks_experiment()
    assert demo.task.kind == "landmarks" and demo.task.landmarks == list(KNEE_LANDMARKS)
    assert {c["loss"] for c in demo.sweep.config_dicts()} == {"mse", "soft_argmax"}
    assert demo.ranking.metric == demo.promotion.primary.metric == "mre"


def test_seg3d_demo_is_3d_on_the_3d_phantom_with_3d_input_size():
    from medselect.config import default_seg3d_experiment

    demo = default_seg3d_experiment()
    assert demo.task.spatial_dims == demo.data.source.spatial_dims == 3
    assert demo.sweep.space.input_size == [(48, 48, 24)]  # the phantom's 48x48, 24 slices
    assert {c["architecture"] for c in demo.sweep.config_dicts()} == {"unet", "segresnet"}
    assert demo.ranking.metric == demo.promotion.primary.metric == "dice"


@pytest.mark.parametrize("source", [EXAMPLE, None])
def test_round_trip_load_dump_load(tmp_path, source):
    first = load_experiment(source) if source else parse_experiment(MINIMAL, "minimal.yaml")
    text = dump_experiment(first)
    second = load_experiment(write(tmp_path, text, "dumped.yaml"))
    assert without_source(second) == without_source(first)
    assert dump_experiment(second) == text


def test_relative_paths_resolve_against_the_file_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    path = write(tmp_path, textwrap.dedent("""\
        task: {name: knee, classes: [background, femur]}
        data:
          source: {kind: manifest, path: ../cases.csv}
        evaluation: {case_set: new/cases.csv}
        """), "sub/experiment.yaml")
    experiment = load_experiment(path)
    base = tmp_path.resolve()
    assert experiment.data.source.path == base / "cases.csv"
    assert experiment.evaluation.case_sets == [base / "sub" / "new" / "cases.csv"]
    reloaded = parse_experiment(dump_experiment(experiment), "dumped.yaml", base_dir="/elsewhere")
    assert reloaded.data.source.path == base / "cases.csv"


def test_nnunet_path_and_base_dir_of_parse(tmp_path):
    text = MINIMAL.replace("{kind: phantom}", "{kind: nnunet, path: Dataset001_Knee}")
    assert parse_experiment(text, "x.yaml", base_dir=tmp_path).data.source.path == (
        tmp_path.resolve() / "Dataset001_Knee")
    assert parse_experiment(text, "x.yaml").data.source.path == Path("Dataset001_Knee")


def test_scalars_as_lists_in_a_file(tmp_path):
    experiment = load_experiment(write(tmp_path, MINIMAL + textwrap.dedent("""\
        sweep:
          space: {loss: dice, architecture: [unet, segresnet], input_size: [96, 96]}
        evaluation: {metrics: dice, nsd_tolerance_mm: 2}
        promotion: {scopes: per_site}
        """)))
    assert experiment.sweep.space.axes()["loss"] == ["dice"]
    assert experiment.sweep.space.input_size == [(96, 96)]
    assert experiment.sweep.space.size() == 2
    assert experiment.evaluation.metrics == ["dice"]
    assert experiment.evaluation.nsd_tolerance_mm.default == 2.0
    assert experiment.promotion.scopes == ["per_site"]


def test_yaml_1_1_exponent_without_dot_is_still_a_number(tmp_path):
    text = MINIMAL + "sweep: {space: {learning_rate: 1e-4}}\n"
    experiment = load_experiment(write(tmp_path, text))
    assert experiment.sweep.space.learning_rate == [1e-4]


# --- error messages --------------------------------------------------------------------------

def test_bad_axis_value_names_file_path_index_value_and_suggestion(tmp_path):
    error = load_error(tmp_path, MINIMAL + "sweep:\n  space:\n    loss: [dice, dice_ce, dcie]\n")
    headline = str(error).splitlines()[0]
    assert headline.startswith(
        f"{tmp_path / 'experiment.yaml'}: sweep.space.loss[2]: unknown loss 'dcie'; "
        "did you mean 'dice'? choose one of: dice, dice_ce")
    assert headline.endswith("(line 6)")
    assert error.errors == [headline]


def test_every_problem_is_reported_with_a_count_in_the_headline():
    error = parse_error("""\
task: {name: Knee, kind: segmentaton, classes: [background, femur]}
data:
  source: {kind: manifest, path: cases.txt}
sweep: {workers: two}
""")
    lines = str(error).splitlines()
    assert len(error.errors) == 4
    assert lines[0].endswith("[and 3 more problems]")
    assert lines[0].startswith("exp.yaml: task.name: ")
    assert "'Knee'" in lines[0]
    assert "exp.yaml: task.kind: unknown task kind 'segmentaton'" in lines[1]
    assert "exp.yaml: data.source.path: a manifest is a .csv or .json file, got 'cases.txt'" in (
        lines[2])
    assert "exp.yaml: sweep.workers: " in lines[3] and "got 'two'" in lines[3]


@pytest.mark.parametrize("extra, path, key, hint", [
    ("evalution: {}\n", "evalution", "evalution", "did you mean 'evaluation'? allowed keys: task"),
    ("sweep: {spase: {}}\n", "sweep.spase", "spase", "allowed keys: name, strategy"),
    ("sweep: {space: {losss: dice}}\n", "sweep.space.losss", "losss", "did you mean 'loss'?"),
    ("sweep: {strategy: list, configs: [{los: dice}]}\n", "sweep.configs[0].los", "los",
     "did you mean 'loss'?"),
    ("ranking: {metrik: dice}\n", "ranking.metrik", "metrik", "did you mean 'metric'?"),
    ("promotion: {primary: {metric: dice, margn: 0.1}}\n", "promotion.primary.margn", "margn",
     "did you mean 'margin'?"),
])
def test_unknown_keys_name_the_key_and_list_the_allowed_ones(extra, path, key, hint):
    error = parse_error(MINIMAL + extra)
    assert str(error).startswith(f"exp.yaml: {path}: unknown key '{key}'; ")
    assert hint in str(error)
    assert "(line 4)" in str(error)


def test_unknown_key_in_a_data_source_lists_that_kinds_keys():
    text = MINIMAL.replace("{kind: phantom}", "{kind: phantom, sizee: 64}")
    message = str(parse_error(text))
    assert message.startswith("exp.yaml: data.source.sizee: unknown key 'sizee'; did you mean "
                              "'size'? allowed keys: kind, cases_per_site, sites, size")


@pytest.mark.parametrize("source, expected", [
    ("{kind: phantm}", "data.source.kind: unknown kind 'phantm'; did you mean 'phantom'? "
                       "choose one of: phantom, manifest, nnunet, datalist (line 3)"),
    ("{path: x.csv}", "data.source.kind: is required but missing; choose one of: phantom, "
                      "manifest, nnunet, datalist (line 3)"),
])
def test_data_source_kind_errors(source, expected):
    text = MINIMAL.replace("{kind: phantom}", source)
    error = parse_error(text)
    assert str(error) == f"exp.yaml: {expected}"


@pytest.mark.parametrize("extra, expected", [
    ("sweep: {space: {learning_rate: [0.1, -1]}}\n",
     "sweep.space.learning_rate[1]: Input should be greater than 0, got -1 (line 4)"),
    ("sweep: {space: {loss: dcie}}\n", "sweep.space.loss: unknown loss 'dcie'"),
    ("sweep: {strategy: list, configs: [{loss: dice}, {loss: focl}]}\n",
     "sweep.configs[1].loss: unknown loss 'focl'; did you mean 'focal'?"),
    ("sweep: {space: {input_size: [[64, 64], [64, 64, 64]]}}\n",
     "sweep.space.input_size[1]: input size [64, 64, 64] has 3 axes but task.spatial_dims is 2"),
    ("evaluation: {nsd_tolerance_mm: {default: 1, femr: 2}}\n",
     "evaluation.nsd_tolerance_mm.femr: 'femr' is not a foreground class"),
    ("promotion: {guards: [{metric: hd95}, {label: femur}]}\n",
     "promotion.guards[1].metric: is required but missing; add it (line 4)"),
])
def test_field_errors_name_path_and_value(extra, expected):
    error = parse_error(MINIMAL + extra)
    assert str(error).startswith(f"exp.yaml: {expected}")


def test_missing_section_is_named_without_a_line():
    error = parse_error("task: {name: knee, classes: [a, b]}\n")
    assert str(error) == "exp.yaml: data: is required but missing; add it"


@pytest.mark.parametrize("text, fragment", [
    ("task: {name: knee\ndata: [\n", "exp.yaml: line 2, column 5: malformed YAML: "),
    ("task:\n  name: x\n   bad: 1\n", "exp.yaml: line 3, column 7: malformed YAML: mapping "
                                      "values are not allowed here"),
    (MINIMAL + "task: {}\n", "exp.yaml: line 4, column 1: malformed YAML: key 'task' is "
                             "repeated (first on line 1)"),
    ("a: 1\n---\nb: 2\n", "exp.yaml: line 2, column 1: malformed YAML: "),
    ("sweep:\n  space: {{loss: dice}, epochs: 1}\n", "exp.yaml: line 2, column 11: malformed "
                                                     "YAML: a dict is used as a key"),
])
def test_malformed_yaml_names_line_and_column(text, fragment):
    error = parse_error(text)
    assert str(error).startswith(fragment)


@pytest.mark.parametrize("text, fragment", [
    ("", "the file is empty"),
    ("# only a comment\n", "the file is empty"),
    ("- task\n- data\n", "the top level is a list, but an experiment file is a mapping of "
                         "sections (task, data, sweep, evaluation, ranking, promotion, upgrade)"),
    ("just text\n", "the top level is a string"),
    (MINIMAL + "source: elsewhere.yaml\n", "source: unknown key 'source'"),
])
def test_file_level_problems(tmp_path, text, fragment):
    error = load_error(tmp_path, text)
    assert str(error).startswith(f"{tmp_path / 'experiment.yaml'}: ")
    assert fragment in str(error)


def test_missing_file_folder_and_non_utf8(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml: no such file"):
        load_experiment(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is a folder"):
        load_experiment(tmp_path)
    bad = tmp_path / "latin.yaml"
    bad.write_bytes("task: {name: caf\xe9}\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin\.yaml: not UTF-8 text"):
        load_experiment(bad)


def test_config_error_is_a_value_error():
    with pytest.raises(ValueError):
        parse_experiment("[]", "exp.yaml")


# --- public face -----------------------------------------------------------------------------

def test_public_api():
    assert set(config.__all__) >= {
        "Experiment", "TaskSpec", "DataSpec", "SweepSpec", "SearchSpace", "EvaluationSpec",
        "RankingSpec", "PromotionSpec", "UpgradeSpec", "load_experiment", "parse_experiment",
        "dump_experiment", "default_demo_experiment", "RunConfig", "resolve",
    }
    assert all(hasattr(config, name) for name in config.__all__)


def test_config_layer_does_not_import_torch_or_other_layers():
    code = ("import sys, medselect.config; "
            "bad = [m for m in sys.modules if m == 'torch' or (m.startswith('medselect.') and "
            "m.split('.')[1] not in ('config', 'errors'))]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
