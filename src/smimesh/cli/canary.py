"""`smimesh canary list|status|promote|abort|retry|pause|resume|set-weight`: operate the canaries
the running mesh's controller analyses (Flagger `Canary` objects; issue 14).

`status NAME -o json` prints the Canary's status object as Flagger writes it (plus smimesh's
`message` and analysis `history`); `-o text` adds each check's value against its threshold and the
recent events. Without `-n`, NAME is looked up in every namespace.
"""

from __future__ import annotations

from typing import Any

import click

from smimesh.api.client import ApiClient
from smimesh.cli._client import client_options, emit, open_client, table
from smimesh.errors import ApiError

NAMESPACE = click.option("-n", "--namespace", default=None, help="Namespace of the Canary (default: any).")


def find(client: ApiClient, name: str, namespace: str | None) -> dict[str, Any]:
    found = [c for c in client.canaries(namespace) if c["name"] == name]
    if not found:
        where = f"namespace {namespace!r}" if namespace else "any namespace"
        raise ApiError(f"no Canary {name!r} in {where}", status=404, hint="`smimesh canary list` lists them")
    if len(found) > 1:
        spaces = ", ".join(sorted(c["namespace"] for c in found))
        raise ApiError(
            f"Canary {name!r} exists in several namespaces ({spaces})",
            status=409,
            hint="say which with -n NS",
        )
    return found[0]


@click.group("canary")
def command() -> None:
    """Progressive delivery: the canaries the running mesh analyses.

    \b
    Examples:
      smimesh canary list
      smimesh canary status podinfo -n test
      smimesh canary status podinfo -o json      # the status object, as Flagger writes it
      smimesh canary promote podinfo             # skip what is left of the analysis
      smimesh canary set-weight podinfo 30
    """


@command.command("list")
@NAMESPACE
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
@client_options
def list_command(namespace: str | None, output: str, api_addr: str, token: str | None) -> None:
    """Every Canary with its phase and weight (like `kubectl get canaries`)."""
    with open_client(api_addr, token) as client:
        items = client.canaries(namespace)
    if output != "table":
        emit(items, output)
        return
    rows = [_row(item) for item in items]
    table(("NAMESPACE", "NAME", "STATUS", "WEIGHT", "FAILEDCHECKS", "LASTTRANSITIONTIME", "MESSAGE"), rows)


def _row(item: dict[str, Any]) -> list[Any]:
    found = item["status"]
    checks = f"{found['failedChecks']}/{item['threshold']}"
    state = found["phase"] + (" (paused)" if found.get("paused") else "")
    return [
        item["namespace"],
        item["name"],
        state,
        found["canaryWeight"],
        checks,
        found["lastTransitionTime"],
        found["message"],
    ]


@command.command("status")
@click.argument("name")
@NAMESPACE
@click.option("-o", "--output", type=click.Choice(["text", "json", "yaml"]), default="text")
@client_options
def status_command(name: str, namespace: str | None, output: str, api_addr: str, token: str | None) -> None:
    """One Canary: phase, weight, why, each check against its threshold, and recent events."""
    with open_client(api_addr, token) as client:
        item = find(client, name, namespace)
    if output != "text":
        emit(item["status"], output)
        return
    found = item["status"]
    where = f"target Workload {item['target']}, service {item['service']}"
    click.echo(f"Canary {item['namespace']}/{item['name']} ({where})")
    click.echo(f"  phase         {found['phase']}{' (paused)' if found.get('paused') else ''}")
    weights = f"{found['canaryWeight']} % of {item['maxWeight']} %"
    click.echo(f"  weight        {weights}   iterations {found['iterations']}")
    click.echo(
        f"  failed checks {found['failedChecks']} of {item['threshold']}   interval {item['interval']}"
    )
    click.echo(f"  no data       {item['onNoData']} below {item['minRequests']} request(s) per interval")
    click.echo(f"  revision      {found['lastAppliedSpec']} (promoted: {found['lastPromotedSpec']})")
    if found["message"]:
        click.echo(f"  message       {found['message']}")
    if found["history"]:
        click.echo("\nAnalysis (latest last):")
        table(
            ("TIME", "WEIGHT", "METRIC", "VALUE", "THRESHOLD", "REQUESTS", "RESULT"),
            [_check(e) for e in found["history"][-15:]],
        )
    if item["events"]:
        click.echo("\nEvents:")
        table(
            ("TIME", "TYPE", "MESSAGE"), [[e["time"], e["type"], e["message"]] for e in item["events"][-10:]]
        )


def _check(entry: dict[str, Any]) -> list[Any]:
    bounds = []
    if entry.get("min") is not None:
        bounds.append(f">= {entry['min']}")
    if entry.get("max") is not None:
        bounds.append(f"<= {entry['max']}")
    unit = {"request-success-rate": "%", "request-duration": "ms"}.get(entry["metric"], "")
    value = "-" if entry["value"] is None else f"{entry['value']} {unit}".rstrip()
    return [
        entry["time"],
        entry["weight"],
        entry["metric"],
        value,
        " and ".join(bounds),
        "-" if entry["requests"] is None else entry["requests"],  # a MetricTemplate counts none
        entry["result"],
    ]


def _action(action: str, summary: str) -> None:
    @command.command(action, help=summary)
    @click.argument("name")
    @NAMESPACE
    @client_options
    def run(name: str, namespace: str | None, api_addr: str, token: str | None) -> None:
        _send(name, namespace, action, None, api_addr, token)


def _send(
    name: str, namespace: str | None, action: str, weight: int | None, api_addr: str, token: str | None
) -> None:
    with open_client(api_addr, token) as client:
        item = find(client, name, namespace)
        done = client.canary_command(item["namespace"], name, action, weight)
    found = done["status"]
    now = f"phase {found['phase']}, weight {found['canaryWeight']}"
    click.echo(f"canary {item['namespace']}/{name}: {action} done — {now}")


for _name, _summary in (
    ("promote", "Skip what is left of the analysis and promote the canary now."),
    ("abort", "Roll the canary back now (phase Failed)."),
    ("retry", "Analyse a Failed canary's revision again."),
    ("pause", "Freeze the analysis where it is (weights stay)."),
    ("resume", "Continue a paused analysis."),
):
    _action(_name, _summary)


@command.command("set-weight")
@click.argument("name")
@click.argument("weight", type=click.IntRange(0, 100))
@NAMESPACE
@client_options
def set_weight(name: str, weight: int, namespace: str | None, api_addr: str, token: str | None) -> None:
    """Send WEIGHT % of the traffic to the canary now; the analysis continues from there."""
    _send(name, namespace, "set-weight", weight, api_addr, token)
