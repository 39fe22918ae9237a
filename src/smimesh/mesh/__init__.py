"""mesh: the pure mesh model (`build_model`), access evaluation and per-proxy views.

Public API: `build_model`, `proxy_view`, `evaluate_access`, and the model value types.
"""

from smimesh.mesh.access import AccessVerdict, Decision, HttpRequest, TrafficPolicy, evaluate_access
from smimesh.mesh.build import build_model
from smimesh.mesh.model import (
    Endpoint,
    HttpMatch,
    Identity,
    InboundPort,
    Instance,
    MeshModel,
    Protocol,
    Service,
    ServiceKey,
    ServicePort,
    TcpUpstream,
)
from smimesh.mesh.split import PortSplits, SplitRoute, WeightedBackend
from smimesh.mesh.view import ProxyView, proxy_view
from smimesh.mesh.visibility import visible_services

__all__ = [
    "AccessVerdict",
    "Decision",
    "Endpoint",
    "HttpMatch",
    "HttpRequest",
    "Identity",
    "InboundPort",
    "Instance",
    "MeshModel",
    "PortSplits",
    "Protocol",
    "ProxyView",
    "Service",
    "ServiceKey",
    "ServicePort",
    "SplitRoute",
    "TcpUpstream",
    "TrafficPolicy",
    "WeightedBackend",
    "build_model",
    "evaluate_access",
    "proxy_view",
    "visible_services",
]
