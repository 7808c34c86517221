"""The model registry: ``W/models/<model_id>/`` folders and the ``champion.json`` pointer.

A model folder holds only text a reviewer can open — nothing here is ever pickled or unpickled::

    model.txt          the LightGBM booster in its own text format
    calibrator.json    Platt slope and intercept on the booster's raw log-odds
    features.json      the features in model order (name, description, window, monotone direction,
                       kind, categories) and the hash of the feature declarations
    design.json        the study design (months of each side, label definition) and attrition
    data.json          sha256 of every lake partition the training read
    model.json         id, code version, LightGBM parameters, settings in force
    metrics.json       every metric of the model, the baselines and (synthetic plans) the oracle
    fairness.json      fairness by group on the test months and the Obermeyer check (riskstrat.audit.training)
    drift_reference.json  binned distribution of each feature and the score on the training rows
    test_scores.parquet   each test row's out-of-fold score (person_id, as_of, score)
    card.md, card.html the model card; calibration.svg, lift.svg, fairness.svg and need_*.svg its plots
    checksums.json     sha256 of every file above, verified on every load

Each model belongs to one specification (``design.json``'s ``spec``), and each specification has
its own champion: ``champion.json`` maps specification name to the champion's id, the reason it
was promoted and the history of promotions.

The model id is ``m-<as-of>-<8 hex>``, the hex taken from the content of the files that decide
its predictions, so the same training gives the same id and a changed model a new one; loading
re-derives it, so a model whose files and checksums were both rewritten is still refused.
A folder is written under a temporary name and renamed into place: it is complete or absent.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from riskstrat.config import DEFAULT_SPEC
from riskstrat.core.errors import RiskstratError
from riskstrat.core.files import staged_folder, write_atomic
from riskstrat.core.fingerprint import sha256_bytes
from riskstrat.core.workspace import MODELS
from riskstrat.model import card
from riskstrat.model.bundle import ModelBundle
from riskstrat.model.calibration import PlattCalibrator
from riskstrat.model.design import StudyDesign
from riskstrat.model.matrix import ModelFeature, feature_matrix

CHAMPION = "champion.json"
CHECKSUMS = "checksums.json"
TEST_SCORES = "test_scores.parquet"
# The files whose content decides what a model predicts; the model id is derived from them.
_IDENTITY_FILES = ("model.txt", "calibrator.json", "features.json", "design.json")


class RegistryError(RiskstratError):
    """A model folder is missing, incomplete or altered; the message names the model and the file."""


def _dumps(obj) -> bytes:
    return (json.dumps(_clean(obj), indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def _clean(obj):
    """JSON has no NaN: write it as null, and numpy scalars as plain numbers."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _model_id(as_of: str, files: dict[str, bytes]) -> str:
    listing = b"".join(name.encode() + b"\0" + sha256_bytes(files[name]).encode() + b"\n" for name in _IDENTITY_FILES)
    return f"m-{as_of}-{sha256_bytes(listing)[:8]}"


def _bundle_files(bundle: ModelBundle) -> dict[str, bytes]:
    design = bundle.design.to_dict()
    return {
        "model.txt": bundle.booster.model_to_string().encode("utf-8"),
        "calibrator.json": _dumps(bundle.calibrator.to_dict()),
        "features.json": _dumps({
            "declarations_hash": bundle.declarations_hash,
            "catalogue_hash": bundle.catalogue_hash,
            "features": [f.to_dict() for f in bundle.features],
        }),
        "design.json": _dumps(design),
    }


def register(workspace: Path, bundle: ModelBundle) -> Path:
    """Write the model folder (atomically) and return its path; registering the same model twice is a no-op."""
    models = Path(workspace) / MODELS
    files = _bundle_files(bundle)
    model_id = _model_id(bundle.design.as_of, files)
    final = models / model_id
    if final.exists():
        verify(final)
        return final
    files["data.json"] = _dumps(bundle.data_hashes)
    files["metrics.json"] = _dumps(bundle.metrics)
    files["attrition.json"] = _dumps(bundle.attrition.to_dict(orient="records"))
    for name, audit in (("fairness.json", bundle.fairness), ("drift_reference.json", bundle.drift_reference)):
        if audit is not None:
            files[name] = _dumps(audit)
    if bundle.test_scores is not None:
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(bundle.test_scores, preserve_index=False), buffer)
        files[TEST_SCORES] = buffer.getvalue()
    manifest = {
        "model_id": model_id,
        "spec": bundle.design.spec,
        "as_of": bundle.design.as_of,
        "synthetic": bundle.synthetic,
        "code": bundle.code,
        "lightgbm_params": bundle.params,
        "trees": bundle.trees,
        "settings": bundle.settings,
        "specification": bundle.specification,
        "format": {"booster": "LightGBM text (model.txt)", "calibrator": "JSON", "pickle": "never"},
    }
    files["model.json"] = _dumps(manifest)
    rendered = card.build_card(bundle, model_id)
    files.update({name: text.encode("utf-8") for name, text in rendered.files().items()})
    files[CHECKSUMS] = _dumps({name: sha256_bytes(data) for name, data in sorted(files.items())})
    with staged_folder(final) as tmp:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
    return final


def verify(model_dir: Path) -> dict[str, bytes]:
    """Read every file listed in ``checksums.json`` and check its sha256; return the verified bytes.

    Callers parse these bytes, never re-read the file, so what is used is what was checked.
    """
    model_dir = Path(model_dir)
    sums_path = model_dir / CHECKSUMS
    if not sums_path.exists():
        raise RegistryError(f"{sums_path}: missing; the model folder is incomplete")
    try:
        sums = json.loads(sums_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RegistryError(f"{sums_path}: not valid JSON") from None
    verified: dict[str, bytes] = {}
    for name in (*_IDENTITY_FILES, "metrics.json", "model.json"):
        if name not in sums:
            raise RegistryError(f"{sums_path}: lists no checksum for {name}")
    for name, expected in sums.items():
        path = model_dir / name
        if not path.exists():
            raise RegistryError(f"{path}: missing from the model folder")
        data = path.read_bytes()
        if sha256_bytes(data) != expected:
            raise RegistryError(f"{path}: checksum does not match checksums.json; the file was altered, refusing to load")
        verified[name] = data
    as_of = model_as_of(model_dir.name) if model_dir.name.count("-") >= 3 else ""
    if _model_id(as_of, verified) != model_dir.name:
        raise RegistryError(f"{model_dir}: content does not match its model id; the folder was altered or renamed, refusing to load")
    return verified


@dataclass
class RegisteredModel:
    """A verified model from the registry: booster, calibrator, feature list and design.

    ``predict_proba`` gives calibrated probabilities; ``raw_score`` the booster's log-odds, which
    ``booster.predict(model.matrix(frame), pred_contrib=True)`` decomposes exactly.
    """

    model_id: str
    path: Path
    booster: lgb.Booster
    calibrator: PlattCalibrator
    features: list[ModelFeature]
    design: StudyDesign
    metrics: dict
    manifest: dict
    declarations_hash: str = ""
    extra: dict = field(default_factory=dict)
    fairness: dict | None = None
    drift_reference: dict | None = None

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def matrix(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The booster's input for ``frame``: the model's features, in order, typed as at training."""
        return feature_matrix(frame, self.features)

    def raw_score(self, frame: pd.DataFrame) -> np.ndarray:
        """The booster's raw log-odds per row (what SHAP values add up to)."""
        return self.booster.predict(self.matrix(frame), raw_score=True)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of the outcome per row."""
        return self.calibrator.predict(self.raw_score(frame))


def load_model(workspace: Path, model_id: str | None = None, spec: str = DEFAULT_SPEC) -> RegisteredModel:
    """Load a model (by default the champion of ``spec``) after verifying every checksum; never unpickles."""
    models = Path(workspace) / MODELS
    if model_id is None:
        model_id = champion_id(workspace, spec)
        if model_id is None:
            raise RegistryError(f"{models / CHAMPION}: no champion for {spec} yet; run `riskstrat train` first")
    model_dir = models / model_id
    if not model_dir.is_dir():
        raise RegistryError(f"{model_dir}: no such model in the registry")
    files = verify(model_dir)
    try:
        booster = lgb.Booster(model_str=files["model.txt"].decode("utf-8"))
        calibrator = PlattCalibrator.from_dict(json.loads(files["calibrator.json"]))
        feats = json.loads(files["features.json"])
        features = [ModelFeature.from_dict(f) for f in feats["features"]]
        design = StudyDesign.from_dict(json.loads(files["design.json"]))
        metrics = json.loads(files["metrics.json"])
        manifest = json.loads(files["model.json"])
        # Models registered before the audit files existed have neither; they load, unaudited.
        fairness = json.loads(files["fairness.json"]) if "fairness.json" in files else None
        reference = json.loads(files["drift_reference.json"]) if "drift_reference.json" in files else None
    except (RiskstratError, ValueError, KeyError, TypeError, lgb.basic.LightGBMError) as exc:
        raise RegistryError(f"{model_dir}: cannot be read ({exc})") from None
    if booster.feature_name() != [f.name for f in features]:
        raise RegistryError(f"{model_dir / 'features.json'}: feature list does not match model.txt")
    return RegisteredModel(
        model_id=model_id, path=model_dir, booster=booster, calibrator=calibrator, features=features,
        design=design, metrics=metrics, manifest=manifest, declarations_hash=feats.get("declarations_hash", ""),
        fairness=fairness, drift_reference=reference,
    )


def load_test_scores(model: RegisteredModel) -> pd.DataFrame:
    """The model's out-of-fold test scores (person_id, as_of, score), checked against checksums.json."""
    files = verify(model.path)
    if TEST_SCORES not in files:
        raise RegistryError(f"{model.path / TEST_SCORES}: this model kept no test scores (registered before cross-fitting)")
    scores = pq.read_table(io.BytesIO(files[TEST_SCORES])).to_pandas()
    return scores.astype({"person_id": "string"})


def trained_specification(workspace: Path, model_id: str) -> dict | None:
    """What the specification file decided about a registered model (``model.json``'s
    ``specification``); None for a model registered before that was recorded."""
    path = Path(workspace) / MODELS / model_id / "model.json"
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("specification")
    except (OSError, ValueError) as exc:
        raise RegistryError(f"{path}: cannot be read ({exc})") from None


def model_as_of(model_id: str) -> str:
    """The as-of month in a model id (``m-<YYYY-MM>-<hex>``)."""
    return model_id.split("-", 1)[1].rsplit("-", 1)[0]


def _champions(workspace: Path) -> dict:
    """``champion.json`` as {spec: {model_id, reason, history}}. A registry written before models
    had specifications holds one champion, the general list's; it reads as such."""
    path = Path(workspace) / MODELS / CHAMPION
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise RegistryError(f"{path}: not a champion pointer (expected JSON)") from None
    if isinstance(data, dict) and "model_id" in data:
        return {DEFAULT_SPEC: data}
    if not isinstance(data, dict) or not all(isinstance(v, dict) and "model_id" in v for v in data.values()):
        raise RegistryError(f"{path}: not a champion pointer (expected JSON mapping each specification to a model_id)")
    return data


def champions(workspace: Path) -> dict[str, str]:
    """Specification name -> champion model id, for every specification that has one."""
    return {spec: entry["model_id"] for spec, entry in _champions(workspace).items()}


def champion_id(workspace: Path, spec: str = DEFAULT_SPEC) -> str | None:
    """The champion of ``spec``, or None when none has been promoted."""
    return champions(workspace).get(spec)


def set_champion(workspace: Path, model_id: str, reason: str, spec: str = DEFAULT_SPEC) -> None:
    """Make ``model_id`` the champion of ``spec`` (atomically), keeping the history of promotions."""
    models = Path(workspace) / MODELS
    if not (models / model_id).is_dir():
        raise RegistryError(f"{models / model_id}: no such model in the registry")
    entries = _champions(workspace)
    history = entries.get(spec, {}).get("history", [])
    history = [*history, {"model_id": model_id, "reason": reason}]
    entries[spec] = {"model_id": model_id, "reason": reason, "history": history}
    write_atomic(models / CHAMPION, _dumps(entries))
