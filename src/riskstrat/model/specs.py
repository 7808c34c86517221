"""The declared model specifications, checked against what the pipeline declares.

:func:`riskstrat.config.model_specs` reads the files; here each one is checked against the
declarations the config stage cannot see: its outcome (``outcomes.yaml``), its features and its
population rule (``features/declarations.yaml``). An error names the file and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from riskstrat.config import ModelSpec, Settings, SettingsError, model_specs, specs_folder
from riskstrat.features import FEATURES, Feature, feature_names
from riskstrat.features.rules import Node, RuleError, parse_rule
from riskstrat.model.labels import OUTCOMES


@dataclass(frozen=True)
class Specification:
    """One list: its declaration, its population rule (None = every child) and its features."""

    spec: ModelSpec
    population: Node | None
    features: tuple[Feature, ...]
    path: Path

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def title(self) -> str:
        return self.spec.title


def check_spec(spec: ModelSpec, path: Path) -> Specification:
    """The specification with its rule parsed and its outcome and features checked."""
    where = str(path)
    if spec.outcome not in OUTCOMES:
        raise SettingsError(f"{where}: outcome: {spec.outcome!r} is not a declared outcome ({', '.join(OUTCOMES)})")
    declared = feature_names()
    if spec.features == "all":
        features = tuple(FEATURES)
    else:
        unknown = [f for f in spec.features if f not in declared]
        if unknown:
            raise SettingsError(f"{where}: features: {', '.join(unknown)} not declared (see docs/features.md)")
        if len(set(spec.features)) != len(spec.features):
            raise SettingsError(f"{where}: features: a feature is listed twice")
        wanted = set(spec.features)
        features = tuple(f for f in FEATURES if f.name in wanted)
    population = None
    if spec.is_programme:
        try:
            population = parse_rule(spec.population.rule, f"{where}: population.rule", set(declared))
        except RuleError as exc:
            raise SettingsError(str(exc)) from None
    return Specification(spec=spec, population=population, features=features, path=path)


#: What a specification decides about its model. Its title, description, the population's label
#: and description name the list, and its capacity cuts it: changing those needs no new model.
MODEL_FIELDS = ("population", "outcome", "horizon_months", "lookback_months", "features", "hyperparameters")


def model_fields(spec: ModelSpec, settings: Settings | None = None) -> dict:
    """The :data:`MODEL_FIELDS` of a specification, as the registry records them beside a model: the
    population's rule only, and the hyperparameters it is fitted with under ``settings`` (a value
    ``riskstrat.toml`` sets wins over the file's, and then the file's is not what the model used)."""
    fields = spec.model_dump(mode="json", include=set(MODEL_FIELDS))
    if spec.is_programme:
        fields["population"] = {"rule": fields["population"]["rule"]}
    if settings is not None:
        used = settings.for_spec(spec).model
        fields["hyperparameters"] = {k: getattr(used, k) for k in fields["hyperparameters"]}
    return fields


def changed_fields(trained: dict | None, now: dict | None) -> list[str]:
    """The :data:`MODEL_FIELDS` that differ between two records of :func:`model_fields`
    (``outcome``, ``hyperparameters.num_leaves`` ...); empty when either is unknown (None). A
    hyperparameter one record lacks (added to riskstrat since) is not a change."""
    if trained is None or now is None:
        return []
    changed = []
    for name in MODEL_FIELDS:
        if name == "hyperparameters" and isinstance(now.get(name), dict) and isinstance(trained.get(name), dict):
            changed += [f"{name}.{k}" for k in now[name] if k in trained[name] and trained[name][k] != now[name][k]]
        elif trained.get(name) != now.get(name):
            changed.append(name)
    return changed


def spec_changes(trained: dict | None, spec: ModelSpec, settings: Settings | None = None) -> list[str]:
    """The fields of ``spec`` (fitted under ``settings``) that differ from ``trained`` (:func:`model_fields`
    of the specification a model learned from). Empty when they agree, or when the model predates the
    record (``trained`` None): nothing is known to have changed."""
    return changed_fields(trained, model_fields(spec, settings))


def load_specs(workspace: Path | str | None, settings: Settings, names: list[str] | None = None) -> list[Specification]:
    """Every specification of the workspace's folder (``model.specs_dir``, else the shipped
    ``models/``), checked; ``names`` picks some, refusing a name with no file."""
    folder = specs_folder(workspace, settings.model)
    specs = [check_spec(s, folder / f"{s.name}.yaml") for s in model_specs(folder)]
    if names:
        known = {s.name: s for s in specs}
        missing = [n for n in names if n not in known]
        if missing:
            raise SettingsError(f"{folder}: no model specification named {', '.join(missing)} "
                                f"(there are: {', '.join(known)})")
        specs = [known[n] for n in names]
    return specs
