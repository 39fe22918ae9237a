"""xds: pure Envoy config generators (ProxyView -> Envoy protos), names, bootstrap, snapshots.

Public API: `generate(view) -> {type_url: [message]}` and `build_bootstrap(...)`.
"""

from smimesh.xds.bootstrap import build_bootstrap
from smimesh.xds.generate import generate

__all__ = ["build_bootstrap", "generate"]
