from typer.testing import CliRunner

from riskstrat.cli import app

runner = CliRunner()


def test_train_on_a_workspace_without_a_lake_fails_in_one_line(tmp_path):
    result = runner.invoke(app, ["train", "--workspace", str(tmp_path), "--as-of", "2025-11"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "ingest" in lines[0]
    assert not (tmp_path / "models").exists()


def test_train_offers_the_promote_flag():
    result = runner.invoke(app, ["train", "--help"])
    assert result.exit_code == 0 and "--promote" in result.output


def test_train_names_an_unknown_specification_in_one_line(tmp_path):
    result = runner.invoke(app, ["train", "--workspace", str(tmp_path), "--as-of", "2025-11", "--model", "stronger_togther"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "no model specification named stronger_togther" in lines[0]
