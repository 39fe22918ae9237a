"""Older versions of the SMI kinds, one module each, converting to and from the hub (see `convert.py`).

`SPOKES` lists every spoke model class; `registry.py` serves them. Lossy fields travel in
`smimesh.io/conversion-<field>` annotations (see `support.py`).
"""

from __future__ import annotations

from smimesh.resources.meta import SpokeResource
from smimesh.resources.versions.access_v1alpha1 import TrafficTargetV1Alpha1
from smimesh.resources.versions.access_v1alpha2 import TrafficTargetV1Alpha2
from smimesh.resources.versions.specs_v1alpha1 import HTTPRouteGroupV1Alpha1, TCPRouteV1Alpha1
from smimesh.resources.versions.specs_v1alpha2 import HTTPRouteGroupV1Alpha2, TCPRouteV1Alpha2
from smimesh.resources.versions.specs_v1alpha3 import HTTPRouteGroupV1Alpha3, TCPRouteV1Alpha3
from smimesh.resources.versions.split_v1alpha1 import TrafficSplitV1Alpha1
from smimesh.resources.versions.split_v1alpha2 import TrafficSplitV1Alpha2
from smimesh.resources.versions.split_v1alpha3 import TrafficSplitV1Alpha3

SPOKES: list[type[SpokeResource]] = [
    TrafficTargetV1Alpha1,
    TrafficTargetV1Alpha2,
    HTTPRouteGroupV1Alpha1,
    TCPRouteV1Alpha1,
    HTTPRouteGroupV1Alpha2,
    TCPRouteV1Alpha2,
    HTTPRouteGroupV1Alpha3,
    TCPRouteV1Alpha3,
    TrafficSplitV1Alpha1,
    TrafficSplitV1Alpha2,
    TrafficSplitV1Alpha3,
]
