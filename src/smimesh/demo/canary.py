"""The canary demo (`smimesh demo canary`): its manifests and the releases it makes by itself.

A Workload `podinfo` (the bookstore's `apps/store.py`, answering with its VERSION), a client calling
it through the mesh (`apps/shopper.py`), access for the client, and a Flagger Canary on `podinfo`
with short intervals. The script then saves two releases, as a user would: v2, whose every 10th
answer is a 500 (the analysis rolls it back by itself), then v3 (promoted step by step).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from smimesh.demo import manifests

NAMESPACE, TARGET, CLIENT = "demo", "podinfo", "client-0"
TARGET_FILE = "podinfo.yaml"
RELEASES = (
    ("v2", "ERROR_EVERY: '10'", "v2 answers 10 % errors: the analysis must roll it back by itself"),
    ("v3", "", "v3 is healthy: it must be promoted step by step"),
)

ACCESS = f"""# The client may call podinfo (and the -primary / -canary Services the controller creates).
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {{name: everything, namespace: {NAMESPACE}}}
spec:
  matches: [{{name: all, pathRegex: ".*", methods: ["*"]}}]
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {{name: client-to-podinfo, namespace: {NAMESPACE}}}
spec:
  destination: {{kind: ServiceAccount, name: podinfo, namespace: {NAMESPACE}}}
  rules: [{{kind: HTTPRouteGroup, name: everything}}]
  sources: [{{kind: ServiceAccount, name: client, namespace: {NAMESPACE}}}]
---
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {{name: client, namespace: {NAMESPACE}, labels: {{app: client}}}}
spec:
  serviceAccount: client
  command: [python3, apps/shopper.py, "http://{TARGET}.{NAMESPACE}/"]
  env: {{RATE: "40"}}
"""

CANARY = f"""# Flagger's Canary, run by smimesh on its own metrics (docs/canary.md).
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {{name: {TARGET}, namespace: {NAMESPACE}}}
spec:
  targetRef: {{apiVersion: smimesh.io/v1alpha1, kind: Workload, name: {TARGET}}}
  service: {{port: 80, targetPort: http}}
  analysis:
    interval: 2s
    threshold: 3
    maxWeight: 60
    stepWeight: 20
    metrics:
    - {{name: request-success-rate, thresholdRange: {{min: 97}}, interval: 4s}}
    - {{name: request-duration, thresholdRange: {{max: 500}}, interval: 4s}}
"""


def target(version: str, env: str = "") -> str:
    extra = f", {env}" if env else ""
    return f"""# Save a change here (e.g. VERSION) and the canary analysis starts.
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {{name: {TARGET}, namespace: {NAMESPACE}, labels: {{app: {TARGET}}}}}
spec:
  serviceAccount: podinfo
  command: [python3, apps/store.py]
  env: {{VERSION: {version}{extra}}}
  ports: [{{name: http, containerPort: 8080}}]
"""


def write_demo(directory: Path) -> None:
    """The demo's files, v1 of the target (always rewritten: the demo makes its own releases)."""
    apps = directory / "apps"
    apps.mkdir(parents=True, exist_ok=True)
    for name in ("store.py", "shopper.py"):
        shutil.copyfile(manifests() / "apps" / name, apps / name)
    (directory / "access.yaml").write_text(ACCESS)
    (directory / "canary.yaml").write_text(CANARY)
    release(directory, "v1")


def release(directory: Path, version: str, env: str = "") -> None:
    path = directory / TARGET_FILE
    temporary = path.with_name(f".{path.name}.tmp")  # hidden: the file source skips it
    temporary.write_text(target(version, env))
    temporary.replace(path)  # one atomic save, as an editor does
