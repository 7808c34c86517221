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
