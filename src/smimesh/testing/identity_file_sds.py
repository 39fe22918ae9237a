"""Deliver SDS secrets to a real Envoy through files (Envoy's path-based SDS), for rotation tests.

The control plane will serve these same `Secret` protos over ADS; until it exists, a test can
still watch Envoy pick up renewed leaves and rotated roots live: point each SDS reference of a
TLS context at a file, and replace the file atomically (write, then rename: Envoy reloads on the
move) whenever the `CertificateBook` reports a change. Test-only: leaf keys land in a temp dir.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from envoy.config.core.v3 import base_pb2, config_source_pb2
from google.protobuf import json_format

SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"


def secret_path(directory: Path, name: str) -> Path:
    safe = "".join(ch if ch.isalnum() or ch in "-." else "_" for ch in name)
    return directory / f"{safe}.json"


def point_at_files(context: Any, directory: Path) -> Any:
    """Rewrite every SDS reference of a TLS context (built with via_ads=True) to read from `directory`."""
    common = context.common_tls_context
    references = [
        *common.tls_certificate_sds_secret_configs,
        common.combined_validation_context.validation_context_sds_secret_config,
    ]
    for reference in references:
        reference.sds_config.CopyFrom(
            config_source_pb2.ConfigSource(
                path_config_source=config_source_pb2.PathConfigSource(
                    path=str(secret_path(directory, reference.name)),
                    watched_directory=base_pb2.WatchedDirectory(path=str(directory)),
                ),
                resource_api_version=config_source_pb2.ApiVersion.V3,
            )
        )
    return context


def write_secret(directory: Path, secret: Any) -> None:
    """Atomically replace the file Envoy watches for `secret`."""
    resource: dict[str, Any] = {"@type": SECRET_TYPE}
    resource.update(json_format.MessageToDict(secret, preserving_proto_field_name=True))
    target = secret_path(directory, secret.name)
    temporary = target.with_suffix(".tmp")
    temporary.write_text(json.dumps({"resources": [resource]}))
    os.replace(temporary, target)
