"""Tests for tasks/params.py: the repo's params.yaml is valid, and every kind of
mistake in params.yaml or a --set override is refused with a ParamsError whose
message names the key and says what is allowed or expected."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from augmill.tasks.params import Params, ParamsError
from augmill.tasks.params_load import apply_overrides, load_params

REPO_PARAMS = Path(__file__).resolve().parent.parent / "params.yaml"


@pytest.fixture(scope="module")
def repo_raw() -> dict:
    return yaml.safe_load(REPO_PARAMS.read_text(encoding="utf-8"))


def write_params(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def refused(tmp_path: Path, raw: dict) -> str:
    """Load ``raw`` from a file and return the ParamsError message (fails if accepted)."""
    with pytest.raises(ParamsError) as caught:
        load_params(write_params(tmp_path, raw))
    return str(caught.value)


def test_repo_params_yaml_loads(repo_raw):
    params = load_params(REPO_PARAMS)
    assert isinstance(params, Params)
    assert params.seed == repo_raw["seed"]
    assert params.augment.factor == pytest.approx(float(repo_raw["augment"]["factor"]))
    assert [op["name"] for op in params.augment.policy] == [op["name"] for op in repo_raw["augment"]["policy"]]
    # the "validate" section is read through its alias, not silently defaulted
    assert params.validate_.min_size == repo_raw["validate"]["min_size"]
    split = params.data.split
    assert split.train + split.val + split.test == pytest.approx(1.0)


def test_unknown_top_level_key(tmp_path, repo_raw):
    raw = copy.deepcopy(repo_raw)
    raw["sead"] = 1
    message = refused(tmp_path, raw)
    assert "sead" in message
    assert "unknown key" in message


def test_unknown_nested_key(tmp_path, repo_raw):
    raw = copy.deepcopy(repo_raw)
    raw["augment"]["factr"] = 3
    message = refused(tmp_path, raw)
    assert "augment.factr" in message
    assert "unknown key" in message


def test_wrong_type(tmp_path, repo_raw):
    raw = copy.deepcopy(repo_raw)
    raw["seed"] = "abc"
    message = refused(tmp_path, raw)
    assert "seed" in message
    assert "integer" in message
    assert "'abc'" in message


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("augment", "factor", 0.5, "greater than or equal to 1"),
        ("validate", "max_rejection_rate", 1.5, "less than or equal to 1"),
    ],
)
def test_out_of_range(tmp_path, repo_raw, section, key, value, expected):
    raw = copy.deepcopy(repo_raw)
    raw[section][key] = value
    message = refused(tmp_path, raw)
    assert f"{section}.{key}" in message
    assert expected in message
    assert str(value) in message


def test_split_fractions_must_sum_to_one(tmp_path, repo_raw):
    raw = copy.deepcopy(repo_raw)
    raw["data"]["split"] = {"train": 0.6, "val": 0.2, "test": 0.1}
    message = refused(tmp_path, raw)
    assert "data.split" in message
    assert "must be 1.0" in message
    assert "0.9" in message


def test_bias_policy_lists_allowed_values(tmp_path, repo_raw):
    raw = copy.deepcopy(repo_raw)
    raw["bias"]["policy"] = "maybe"
    message = refused(tmp_path, raw)
    assert "bias.policy" in message
    assert "'maybe'" in message
    for allowed in ("rebalance", "report", "fail"):
        assert allowed in message


def test_empty_augment_policy(tmp_path, repo_raw):
    raw = copy.deepcopy(repo_raw)
    raw["augment"]["policy"] = []
    message = refused(tmp_path, raw)
    assert "augment.policy" in message
    assert "at least 1" in message


def test_unknown_operator_lists_allowed_operators(tmp_path, repo_raw):
    raw = copy.deepcopy(repo_raw)
    raw["augment"]["policy"] = [{"name": "rotate", "p": 0.5, "angle": [-5, 5]}, {"name": "blur", "p": 0.5}]
    message = refused(tmp_path, raw)
    assert "augment.policy[1].name" in message
    assert "'blur'" in message
    for allowed in ("rotate", "brightness", "gaussian_noise", "random_resized_crop"):
        assert allowed in message


def test_operator_range_reversed(tmp_path, repo_raw):
    raw = copy.deepcopy(repo_raw)
    raw["augment"]["policy"] = [{"name": "rotate", "p": 0.5, "angle": [20, 10]}]
    message = refused(tmp_path, raw)
    assert "augment.policy[0]" in message
    assert "rotate.angle" in message
    assert "min <= max" in message
    assert "[20.0, 10.0]" in message


@pytest.mark.parametrize("bad_name", [["rotate"], {"op": "rotate"}])
def test_operator_name_of_wrong_type_is_a_params_error(tmp_path, repo_raw, bad_name):
    raw = copy.deepcopy(repo_raw)
    raw["augment"]["policy"] = [{"name": bad_name, "p": 0.5}]
    message = refused(tmp_path, raw)
    assert "augment.policy[0].name" in message


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ParamsError) as caught:
        load_params(missing)
    assert str(missing) in str(caught.value)
    assert "not found" in str(caught.value)


def test_invalid_yaml(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("seed: 1\naugment: [unclosed\n", encoding="utf-8")
    with pytest.raises(ParamsError) as caught:
        load_params(path)
    assert str(path) in str(caught.value)
    assert "not valid YAML" in str(caught.value)


def test_yaml_that_is_not_a_mapping(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("- seed\n- augment\n", encoding="utf-8")
    with pytest.raises(ParamsError, match="must be a mapping"):
        load_params(path)


def test_override_sets_float_param():
    params = load_params(REPO_PARAMS, ["augment.factor=3"])
    assert params.augment.factor == 3.0
    assert isinstance(params.augment.factor, float)


def test_override_value_is_parsed_as_yaml(repo_raw):
    before = copy.deepcopy(repo_raw)
    raw = apply_overrides(repo_raw, ["bias.policy=report", "prepare.max_per_class=null", "seed=7"])
    assert raw["bias"]["policy"] == "report"
    assert raw["prepare"]["max_per_class"] is None
    assert raw["seed"] == 7
    assert repo_raw == before  # the input dict is not modified


@pytest.mark.parametrize("override", ["augment.factor", "=3"])
def test_override_without_key_value_is_refused(repo_raw, override):
    with pytest.raises(ParamsError) as caught:
        apply_overrides(repo_raw, [override])
    assert "KEY=VALUE" in str(caught.value)


def test_override_of_nonexistent_nested_key_is_refused_by_validation():
    with pytest.raises(ParamsError) as caught:
        load_params(REPO_PARAMS, ["augment.factr=3"])
    assert "augment.factr" in str(caught.value)
    assert "unknown key" in str(caught.value)


def test_override_below_a_scalar_is_refused(repo_raw):
    with pytest.raises(ParamsError) as caught:
        apply_overrides(repo_raw, ["seed.x=1"])
    assert "seed" in str(caught.value)
    assert "not a section" in str(caught.value)


# --- params by stage: each stage's share of the modality knobs (tasks/stage_knobs.py) ---

def test_every_modality_knob_names_the_stages_that_read_it():
    from augmill.tasks.params import MODALITY_SECTIONS
    from augmill.tasks.stage_knobs import READERS

    for section in MODALITY_SECTIONS:
        knobs = set(section.model_fields) | set(section.model_computed_fields)
        assert set(section.READ_BY) == knobs, f"{section.NAME}: READ_BY must list exactly its knobs"
        for knob, stages in section.READ_BY.items():
            assert stages and set(stages) <= set(READERS), f"{section.NAME}.{knob}: {stages}"


def test_a_validate_knob_changes_only_the_validate_share():
    from augmill.tasks.modalities.audio.params import AudioParams
    from augmill.tasks.stage_knobs import READERS, stage_shares

    before = stage_shares(load_params(REPO_PARAMS, []))
    after = stage_shares(load_params(REPO_PARAMS, ["audio.min_rms_dbfs=-40.0", "text.min_similarity=0.2"]))
    assert [stage for stage in READERS if before[stage] != after[stage]] == ["validate"]
    assert after["validate"]["audio"]["min_rms_dbfs"] == -40.0 and "min_rms_dbfs" not in after["explore"]["audio"]
    shared = stage_shares(load_params(REPO_PARAMS, ["audio.sample_rate=22050"]))  # read by most stages
    assert {stage for stage in READERS if shared[stage] != before[stage]} == set(AudioParams.READ_BY["sample_rate"])


def test_the_params_stage_writes_one_share_per_reading_stage(tmp_path, monkeypatch):
    from augmill.tasks import stage_knobs

    params = load_params(REPO_PARAMS, ["text.max_redraws=3"])
    monkeypatch.chdir(tmp_path)
    written = stage_knobs.run(params)
    assert sorted(p.stem for p in stage_knobs.SHARES.iterdir()) == sorted(stage_knobs.READERS) == sorted(written)
    augment = yaml.safe_load((stage_knobs.SHARES / "augment.json").read_text())
    assert augment["text"]["max_redraws"] == 3 and "min_similarity" not in augment["text"]


@pytest.mark.e2e
def test_a_params_file_for_one_modality_runs_under_dvc(tmp_path):
    """examples/text.yaml copied to params.yaml has no audio or tabular section: `dvc repro` must
    not refuse it for a missing params key, and the shares hold that file's text knobs."""
    from tests.project import REPO, new_project, run

    root = new_project(tmp_path / "project")
    example = yaml.safe_load((REPO / "examples/text.yaml").read_text())
    assert "audio" not in example and "tabular" not in example
    example["text"]["max_redraws"] = 4
    (root / "params.yaml").write_text(yaml.safe_dump(example, sort_keys=False))
    result = run(["dvc", "repro", "params"], root, check=False)
    assert result.returncode == 0, result.stdout[-1500:] + result.stderr[-1500:]
    augment = yaml.safe_load((root / "data/interim/params/augment.json").read_text())
    assert augment["text"]["max_redraws"] == 4
