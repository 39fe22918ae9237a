"""The offline CLI (`validate`, `convert`, `explain-code`) through click's runner and once as a real process.

No user mistake may print a traceback: every failing invocation here checks for one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from smimesh.cli.main import cli
from smimesh.testing.smi_data import smi_examples_dir

INVALID = Path(__file__).parents[1] / "resources" / "invalid"

CLEAN = """\
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{name: http, port: 80}]}
"""
WARNING_ONLY = (
    """\
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: canary}
spec:
  service: web
  backends: [{service: web, weight: 1}]
---
"""
    + CLEAN
)
BROKEN = """\
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: routes}
spec:
  matches:
  - name: api
    pathRegex: "/api/(?=v1)"
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{port: "80"}]}
"""


def run(*args: str, stdin: str | None = None) -> Result:
    result = CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=True)
    assert "Traceback" not in result.output
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    return result


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, text in (("clean", CLEAN), ("warning", WARNING_ONLY), ("broken", BROKEN)):
        out[name] = tmp_path / f"{name}.yaml"
        out[name].write_text(text)
    return out


def test_validate_clean_exits_0(files: dict[str, Path]) -> None:
    result = run("validate", "-f", str(files["clean"]))
    assert result.exit_code == 0 and "no problems (1 object valid, 1 file)" in result.output


def test_validate_reports_every_problem_with_file_line_field_and_hint(files: dict[str, Path]) -> None:
    result = run("validate", "-f", str(files["broken"]))
    assert result.exit_code == 1
    out = result.output
    assert str(files["broken"]) in out
    assert "line 7, doc 1: error SM3010" in out and "field:    spec.matches[0].pathRegex" in out
    assert "line 12, doc 2: error SM2006" in out and "hint:     write the number without quotes" in out
    assert out.rstrip().endswith("2 errors (0 objects valid, 1 file)")


def test_warnings_pass_unless_strict(files: dict[str, Path]) -> None:
    assert run("validate", "-f", str(files["warning"])).exit_code == 0
    strict = run("validate", "--strict", "-f", str(files["warning"]))
    assert strict.exit_code == 1 and "warning SM3032" in strict.output


def test_validate_json_and_yaml_outputs(files: dict[str, Path]) -> None:
    result = run("validate", "-f", str(files["broken"]), "-f", str(files["clean"]), "-o", "json")
    payload = json.loads(result.output)
    assert (
        result.exit_code == 1 and payload["valid"] is False and payload["objects"] == ["Service/default/web"]
    )
    first = payload["diagnostics"][0]
    assert (first["code"], first["path"], first["location"]["line"]) == (
        "SM3010",
        "spec.matches[0].pathRegex",
        7,
    )
    assert payload["summary"] == {"errors": 2, "warnings": 0, "infos": 0}
    as_yaml = yaml.safe_load(run("validate", "-f", str(files["broken"]), "-o", "yaml").output)
    assert [d["code"] for d in as_yaml["diagnostics"]] == ["SM3010", "SM2006"]


def test_validate_reads_stdin_and_directories(files: dict[str, Path]) -> None:
    piped = run("validate", "-f", "-", stdin=BROKEN)
    assert piped.exit_code == 1 and "<stdin>" in piped.output
    whole = run("validate", str(files["clean"].parent), "-o", "json")
    codes = sorted(d["code"] for d in json.loads(whole.output)["diagnostics"])
    # web is in clean.yaml and warning.yaml; SM6006 (info): what `up` also says of a split listing its root
    assert codes == ["SM1013", "SM2006", "SM3010", "SM3032", "SM6006"]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("validate",), 2),
        (("validate", "-f", "x.yaml", "-o", "xml"), 2),
        (("validate", "-f", "/does/not/exist.yaml"), 1),
        (("convert", "-f", "x.yaml"), 2),
        (("convert", "-f", "x.yaml", "--to", "split.smi-spec.io/v9"), 2),
        (("explain-code",), 2),
        (("explain-code", "SM9999"), 2),
        (("no-such-command",), 2),
    ],
)
def test_mistakes_give_exit_codes_not_tracebacks(args: tuple[str, ...], code: int) -> None:
    result = run(*args)
    assert result.exit_code == code, result.output
    assert "rror" in result.output


def test_validate_the_whole_invalid_corpus_without_a_traceback() -> None:
    result = run("validate", "-f", str(INVALID))
    assert result.exit_code == 1 and "SM1006" in result.output and "SM4010" in result.output


def test_convert_converts_what_it_can_and_refuses_the_rest(tmp_path: Path) -> None:
    source = tmp_path / "mixed.yaml"
    source.write_text(
        "apiVersion: split.smi-spec.io/v1alpha1\nkind: TrafficSplit\nmetadata: {name: s}\n"
        "spec: {service: web, backends: [{service: a, weight: 1}, {service: b, weight: 500m}]}\n---\n" + CLEAN
    )
    result = run("convert", "-f", str(source), "--to", "split.smi-spec.io/v1alpha2")
    assert result.exit_code == 0
    split, service = yaml.safe_load_all(result.stdout)
    assert split["apiVersion"] == "split.smi-spec.io/v1alpha2"
    assert [b["weight"] for b in split["spec"]["backends"]] == [1000, 500]
    assert service["kind"] == "Service"
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "apiVersion: specs.smi-spec.io/v1alpha4\nkind: UDPRoute\nmetadata: {name: u}\n"
        "spec: {matches: {ports: [53]}}\n"
        "---\napiVersion: specs.smi-spec.io/v1alpha4\nkind: TCPRoute\nmetadata: {name: t}\n"
        "spec: {matches: {ports: []}}\n"
    )
    refused = run("convert", "-f", str(routes), "--to", "specs.smi-spec.io/v1alpha3", "-o", "json")
    assert refused.exit_code == 1
    assert json.loads(refused.stdout)["kind"] == "TCPRoute"
    assert "UDPRoute" in refused.stderr and "SM5" in refused.stderr


def test_explain_code_and_list() -> None:
    explained = run("explain-code", "sm3010")
    assert explained.exit_code == 0 and "SM3010: pathRegex is not a valid RE2 regex" in explained.output
    assert "look-around" in explained.output
    listed = run("explain-code", "--list").output
    assert "SM1001" in listed and "SM4009" in listed and "SM5" in listed


@pytest.mark.parametrize("command", ["validate", "convert", "explain-code"])
def test_help_has_examples(command: str) -> None:
    result = run(command, "--help")
    assert result.exit_code == 0 and "Examples:" in result.output and f"smimesh {command}" in result.output


def test_real_process_prints_diagnostics_and_no_traceback(files: dict[str, Path]) -> None:
    binary = files["broken"].parent / "binary.yaml"
    binary.write_bytes(b"\x7fELF\x00\x01\x02")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "smimesh",
            "validate",
            "-f",
            str(files["broken"]),
            "-f",
            str(binary),
            "-f",
            str(INVALID / "1006_billion_laughs.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert "SM3010" in done.stdout and "SM1002" in done.stdout and "SM1006" in done.stdout


def test_validate_accepts_a_field_of_another_version_with_a_warning(tmp_path: Path) -> None:
    """As the SMI conformance suite writes it: v1alpha2's destination.port in a v1alpha3 TrafficTarget."""
    source = tmp_path / "conformance.yaml"
    source.write_text(
        "apiVersion: access.smi-spec.io/v1alpha3\nkind: TrafficTarget\nmetadata: {name: t}\n"
        "spec:\n  destination: {kind: ServiceAccount, name: server, port: 8080}\n"
        "  rules: [{kind: TCPRoute, name: tcp}]\n  sources: [{kind: ServiceAccount, name: client}]\n"
        "---\napiVersion: specs.smi-spec.io/v1alpha4\nkind: TCPRoute\nmetadata: {name: tcp}\n"
        "spec: {matches: {ports: []}}\n"
    )
    result = run("validate", "-f", str(source))
    assert result.exit_code == 0, result.output
    assert "warning SM2009" in result.output and "access.smi-spec.io/v1alpha2" in result.output
    typo = run("validate", "-f", "-", stdin=source.read_text().replace("port: 8080", "prot: 8080"))
    assert typo.exit_code == 1 and "SM2005" in typo.output


CONDITIONAL_SPLIT = """\
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: ab, namespace: shop}
spec:
  service: web
  matches: [{kind: HTTPRouteGroup, name: android}]
  backends: [{service: web-v2, weight: 1}]
---
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: plain, namespace: shop}
spec:
  service: api
  backends: [{service: api-v2, weight: 1}]
"""


def test_convert_warns_when_the_target_version_cannot_express_a_field_and_strict_refuses(
    tmp_path: Path,
) -> None:
    """The issue's case: v1alpha4 with `matches` -> v1alpha2 said nothing, and a v1alpha2 reader widens it."""
    source = tmp_path / "split.yaml"
    source.write_text(CONDITIONAL_SPLIT)
    result = run("convert", "-f", str(source), "--to", "split.smi-spec.io/v1alpha2")
    assert result.exit_code == 0, result.output
    ab, _ = yaml.safe_load_all(result.stdout)
    kept = '[{"kind":"HTTPRouteGroup","name":"android"}]'
    assert ab["metadata"]["annotations"] == {"smimesh.io/conversion-matches": kept}
    assert "line 6, doc 1: warning SM5006" in result.stderr and "field:    spec.matches" in result.stderr
    assert "the weights apply to every request for the root service" in result.stderr
    assert result.stderr.count("SM5006") == 1  # the split without matches loses nothing
    strict = run("convert", "-f", str(source), "--to", "split.smi-spec.io/v1alpha2", "--strict")
    assert strict.exit_code == 1 and "error SM5002" in strict.stderr and "spec.matches" in strict.stderr
    assert [d["metadata"]["name"] for d in yaml.safe_load_all(strict.stdout)] == ["plain"]
    back = run("convert", "-f", "-", "--to", "split.smi-spec.io/v1alpha4", stdin=result.stdout)
    assert back.exit_code == 0 and back.stderr == ""
    restored = next(yaml.safe_load_all(back.stdout))
    assert restored["spec"]["matches"] == [{"kind": "HTTPRouteGroup", "name": "android"}]


def test_validate_hints_the_api_version_an_upstream_example_lacks() -> None:
    """The SMI spec's examples omit apiVersion: the hint names the version(s) the layout fits."""
    examples = smi_examples_dir()
    routes = run("validate", "-f", str(examples / "specs.smi-spec.io_v1alpha2_02_httproutegroup.yaml"))
    assert routes.exit_code == 1 and "SM2001" in routes.output
    assert (
        "add `apiVersion: specs.smi-spec.io/v1alpha2`" in routes.output
        and "v1alpha1, v1alpha2" in routes.output
    )
    target = run("validate", "-f", str(examples / "access.smi-spec.io_v1alpha1_02_traffictarget.yaml"))
    assert "add `apiVersion: access.smi-spec.io/v1alpha1`: the only version of TrafficTarget" in target.output


SPLIT_WITH_PROBLEMS = """
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web-v1, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {serviceAccount: web, command: [python3, x.py], ports: [{name: main, containerPort: 8080}]}
---
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: web, namespace: shop}
spec:
  service: web
  backends: [{service: web-v1, weight: 50}, {service: web-v2, weight: 50}]
"""


def test_validate_shows_what_up_shows_and_each_problem_once(tmp_path: Path) -> None:
    """One missing split backend is one diagnostic (SM4005), and validate also shows what the mesh
    model reports when it builds (SM6001: a targetPort no selected Workload has), as `up` does."""
    (tmp_path / "mesh.yaml").write_text(SPLIT_WITH_PROBLEMS)
    result = run("validate", "-f", str(tmp_path), "-o", "json")
    found = json.loads(result.output)["diagnostics"]
    about_v2 = [d for d in found if d.get("value") == "web-v2"]
    assert [d["code"] for d in about_v2] == ["SM4005"]
    assert [d["code"] for d in found if d["code"].startswith("SM6")] == ["SM6001"]
    assert result.exit_code == 0  # warnings only
