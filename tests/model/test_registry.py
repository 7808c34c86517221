import json
import shutil

import numpy as np
import pytest

from riskstrat.core.fingerprint import sha256_bytes
from riskstrat.model import registry
from riskstrat.model.design import StudyDesign


def test_round_trip_gives_the_same_scores(trained, plan, design):
    workspace, result = trained
    frame, _ = plan
    model = registry.load_model(workspace)  # the champion by default
    assert model.model_id == result.model_id
    assert model.design == design
    assert model.feature_names[:3] == ["ed_visits_12m", "ip_admits_12m", "bh_condition_groups_12m"]
    rows = frame[frame["as_of"].isin(design.test_months)].head(500)
    prob = model.predict_proba(rows)
    assert np.all((prob > 0) & (prob < 1))
    assert np.allclose(prob, model.calibrator.predict(model.raw_score(rows)))
    # SHAP, as scoring will compute it, adds up to the raw score the probability comes from.
    contrib = model.booster.predict(model.matrix(rows), pred_contrib=True)
    assert np.allclose(contrib.sum(axis=1), model.raw_score(rows), atol=1e-6)


def test_model_folder_is_text_only_with_checksums(trained):
    workspace, result = trained
    folder = result.model_dir
    names = {p.name for p in folder.iterdir()}
    assert {"model.txt", "calibrator.json", "features.json", "design.json", "data.json", "model.json",
            "metrics.json", "card.md", "card.html", "checksums.json"} <= names
    assert not any(n.endswith((".pkl", ".pickle", ".joblib")) for n in names)
    sums = json.loads((folder / "checksums.json").read_text())
    assert set(sums) == names - {"checksums.json"}
    assert result.model_id.startswith("m-2025-11-") and len(result.model_id) == len("m-2025-11-") + 8
    features = json.loads((folder / "features.json").read_text())
    assert len(features["declarations_hash"]) == 64
    cal = json.loads((folder / "calibrator.json").read_text())
    assert cal["method"] == "platt" and isinstance(cal["slope"], float)


@pytest.mark.parametrize("victim", ["model.txt", "calibrator.json", "metrics.json", "card.md"])
def test_a_tampered_file_is_refused_by_name(trained, tmp_path, victim):
    workspace, result = trained
    copy = tmp_path / "models" / result.model_id
    shutil.copytree(result.model_dir, copy)
    path = copy / victim
    path.write_bytes(path.read_bytes().replace(b"0", b"1", 1))
    with pytest.raises(registry.RegistryError, match=rf"{victim}: checksum does not match") as err:
        registry.load_model(tmp_path, result.model_id)
    assert "\n" not in str(err.value)


def test_rewriting_a_file_and_its_checksum_is_still_refused(trained, tmp_path):
    workspace, result = trained
    copy = tmp_path / "models" / result.model_id
    shutil.copytree(result.model_dir, copy)
    cal = json.loads((copy / "calibrator.json").read_text())
    cal["intercept"] += 1.0
    data = (json.dumps(cal) + "\n").encode()
    (copy / "calibrator.json").write_bytes(data)
    sums = json.loads((copy / "checksums.json").read_text())
    sums["calibrator.json"] = sha256_bytes(data)
    (copy / "checksums.json").write_text(json.dumps(sums))
    with pytest.raises(registry.RegistryError, match="does not match its model id"):
        registry.load_model(tmp_path, result.model_id)


def test_missing_file_and_missing_champion_are_named(trained, tmp_path):
    workspace, result = trained
    with pytest.raises(registry.RegistryError, match="no champion for acute_event yet"):
        registry.load_model(tmp_path)
    copy = tmp_path / "models" / result.model_id
    shutil.copytree(result.model_dir, copy)
    (copy / "model.txt").unlink()
    with pytest.raises(registry.RegistryError, match=r"model\.txt: missing"):
        registry.load_model(tmp_path, result.model_id)


def test_registering_the_same_training_twice_is_deterministic(trained, plan, settings, design, tmp_path):
    from synthetic_frame import DECLARATIONS

    from riskstrat.model.train import fit_and_register

    workspace, result = trained
    frame, truth = plan
    again = fit_and_register(tmp_path, frame, DECLARATIONS, design, settings, truth=truth)
    assert again.model_id == result.model_id
    for name in ("model.txt", "calibrator.json", "metrics.json", "card.html", "checksums.json"):
        assert (again.model_dir / name).read_bytes() == (result.model_dir / name).read_bytes(), name
    assert not list((tmp_path / "models").glob(".tmp-*"))


def test_design_travels_with_the_model(trained):
    workspace, result = trained
    design = json.loads((result.model_dir / "design.json").read_text())
    assert StudyDesign.from_dict(design) == result.design
    assert design["label_definition"].startswith("acute_event")
