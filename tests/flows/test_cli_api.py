"""The CLI and the REST API return the same report object."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from tests.api_client import api_client
from v6ops.cli.main import app
from v6ops.settings import Settings

runner = CliRunner()
VOLATILE = ("timing_seconds",)


def _stable(report: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in report.items() if k not in VOLATILE}
    out["inputs"] = {k: v for k, v in report["inputs"].items() if k != "files"}
    return out


def test_generate_then_report_writes_every_output(tmp_path: Path) -> None:
    result = runner.invoke(app, ["flows", "generate", str(tmp_path / "g"), "--flows", "400", "--requests", "200"])
    assert result.exit_code == 0, result.output
    truth = json.loads((tmp_path / "g" / "truth.json").read_text())
    result = runner.invoke(app, ["flows", "report", str(tmp_path / "g" / "logs"), "--out", str(tmp_path / "out"),
                                 "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["schema"] == "v6ops.flows.report" and report["schema_version"] == 1
    assert report["summary"]["flows"] == truth["flows"]
    assert report["adoption"]["requests"]["ipv6"] == truth["adoption"]["requests"]["ipv6"]
    written = json.loads((tmp_path / "out" / "report.json").read_text())
    assert _stable(written) == _stable(report)
    html = (tmp_path / "out" / "report.html").read_text()
    assert html.count("<svg") == 4 and "<img src=\"http" not in html and "<script src" not in html
    assert "| flows |" in (tmp_path / "out" / "report.md").read_text()
    assert "v6ops_flows_report_flows{" in (tmp_path / "out" / "metrics.prom").read_text()


def _titles(stdout: str) -> list[str]:
    return [line[2:] for line in stdout.splitlines() if line.startswith("# ")]


def test_report_on_the_terminal_needs_no_output_directory(tmp_path: Path, generated: tuple[Path, dict[str, Any]]) -> None:
    result = runner.invoke(app, ["flows", "report", str(generated[0])], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    titles = _titles(result.stdout)
    assert titles[:3] == ["Summary", "IPv6 adoption", "Accept / reject"]
    assert "Top sources by /64" in titles and "Top pairs by /64" in titles and "Written" not in titles
    report = json.loads(runner.invoke(app, ["flows", "report", "--json", str(generated[0])]).stdout)
    summary_flows, adoption_flows = [line.split() for line in result.stdout.splitlines() if line.startswith("flows ")]
    assert summary_flows == ["flows", str(report["summary"]["flows"])]
    assert adoption_flows[1:4] == [str(report["adoption"]["flows"][c]) for c in ("ipv4", "ipv6", "nat64")]
    assert list(tmp_path.iterdir()) == []  # nothing written without --out


def test_report_with_out_also_writes_the_files(tmp_path: Path, generated: tuple[Path, dict[str, Any]]) -> None:
    result = runner.invoke(app, ["flows", "report", str(generated[0]), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert _titles(result.stdout)[-1] == "Written"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.prom", "report.html", "report.json", "report.md"]


def test_a_path_that_is_not_a_regular_file_says_what_it_is(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "dangling").symlink_to(tmp_path / "gone.log")
    expected = {
        "/dev/null": "/dev/null: a character device, not a regular file, directory, glob or s3:// URL",
        str(tmp_path / "pipe"): f"{tmp_path / 'pipe'}: a named pipe (FIFO), not a regular file, directory, glob or s3:// URL",
        str(tmp_path / "dangling"): f"{tmp_path / 'dangling'}: a symbolic link to '{tmp_path / 'gone.log'}', which does not exist",
        str(tmp_path / "absent.log"): f"{tmp_path / 'absent.log'}: no such file or directory",
    }
    for path, message in expected.items():
        result = runner.invoke(app, ["flows", "report", path])
        assert result.exit_code == 2
        assert result.stderr.strip() == f"error: {message}"


def test_cli_errors_are_one_line_and_nonzero(tmp_path: Path) -> None:
    result = runner.invoke(app, ["flows", "report", str(tmp_path / "missing.log"), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "no such file or directory" in result.output
    (tmp_path / "notes.txt").write_text("hello world\n")
    result = runner.invoke(app, ["flows", "report", str(tmp_path / "notes.txt"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "not a recognized log" in result.output
    result = runner.invoke(app, ["flows", "report", str(tmp_path / "notes.txt"), "--out", str(tmp_path / "o"),
                                 "--format", "${srcaddr} ${dst addr}"])
    assert result.exit_code == 2 and "not a field name" in result.output


def test_api_report_matches_cli(tmp_path: Path, generated: tuple[Path, dict[str, Any]]) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(generated[0], data_dir / "logs")
    client = api_client(Settings(data_dir=data_dir), "viewer")
    response = client.post("/api/v1/flows/report", json={"paths": ["logs"], "bin_seconds": 600})
    assert response.status_code == 200, response.text
    result = runner.invoke(app, ["flows", "report", str(data_dir / "logs"), "--out", str(tmp_path / "o"), "--json",
                                 "--bin-seconds", "600"])
    assert _stable(response.json()) == _stable(json.loads(result.output))


def test_api_refuses_paths_outside_the_data_dir_and_bad_input(tmp_path: Path) -> None:
    client = api_client(Settings(data_dir=tmp_path), "viewer")
    assert client.post("/api/v1/flows/report", json={"paths": ["/etc/passwd"]}).status_code == 403
    assert client.post("/api/v1/flows/report", json={"paths": ["../x"]}).status_code == 403
    assert client.post("/api/v1/flows/report", json={"paths": []}).status_code == 422
    response = client.post("/api/v1/flows/report", json={"paths": ["nothing-here"]})
    assert response.status_code == 400 and "no such file" in response.json()["detail"]


def test_api_upload(tmp_path: Path, generated: tuple[Path, dict[str, Any]]) -> None:
    client = api_client(Settings(data_dir=tmp_path), "viewer")
    body = (generated[0] / "vpc-default.log.gz").read_bytes()
    response = client.post("/api/v1/flows/report/upload?name=vpc.log.gz", content=body)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["summary"]["status_rows"] == {"NODATA": 7, "SKIPDATA": 3}
    assert client.post("/api/v1/flows/report/upload", content=b"").status_code == 400
    bad = client.post("/api/v1/flows/report/upload?name=x.log", content=b"this is not a log\n")
    assert bad.status_code == 422 and "not a recognized log" in bad.json()["detail"][0]
