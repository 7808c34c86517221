from pathlib import Path

import pytest

from riskstrat.config import Settings, SettingsError, describe_settings, load_settings


def test_defaults_when_no_file(tmp_path: Path):
    assert load_settings(tmp_path) == Settings()


def test_file_overrides_one_field(tmp_path: Path):
    (tmp_path / "riskstrat.toml").write_text("[scoring]\ncapacity = 75\n")
    settings = load_settings(tmp_path)
    assert settings.scoring.capacity == 75
    assert settings.model.horizon_months == 6


def test_misspelt_key_names_file_and_key(tmp_path: Path):
    (tmp_path / "riskstrat.toml").write_text("[scoring]\ncapasity = 75\n")
    with pytest.raises(SettingsError, match=r"riskstrat\.toml: scoring\.capasity"):
        load_settings(tmp_path)


def test_out_of_range_value_is_refused(tmp_path: Path):
    (tmp_path / "riskstrat.toml").write_text("[scoring]\ncapacity = 0\n")
    with pytest.raises(SettingsError, match="scoring.capacity"):
        load_settings(tmp_path)


def test_every_field_has_a_meaning():
    rows = describe_settings(Settings())
    assert rows and all(meaning.strip() for _, _, meaning in rows)
