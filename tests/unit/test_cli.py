from typer.testing import CliRunner

from riskstrat.cli import app

runner = CliRunner()


def test_help_lists_the_fixed_command_names():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("synth", "ingest", "train", "score", "monthly"):
        assert name in result.output


def test_bad_month_is_a_one_line_usage_error():
    result = runner.invoke(app, ["score", "--as-of", "2025-13"])
    assert result.exit_code != 0
    assert "YYYY-MM" in result.output


def test_a_workspace_that_does_not_exist_is_named_as_such(tmp_path):
    missing = tmp_path / "no-such-plan"
    for command in (["score", "--as-of", "2025-11"], ["ingest"], ["train", "--as-of", "2025-11"]):
        result = CliRunner().invoke(app, [*command, "--workspace", str(missing)])
        assert result.exit_code == 1 and f"{missing}: no such workspace folder" in result.output.replace("\n", "")
    assert not missing.exists()


def test_the_audit_needs_a_scored_month(tmp_path):
    result = CliRunner().invoke(app, ["audit", "--workspace", str(tmp_path)])
    assert result.exit_code == 1 and "no scored month yet; run `riskstrat score` first" in result.output.replace("\n", "")
