"""Older versions of the SMI kinds, one module each, converting to and from the hub (see `convert.py`).

`SPOKES` lists every spoke model class; `registry.py` serves them.
"""

from __future__ import annotations

from smimesh.resources.meta import SpokeResource

SPOKES: list[type[SpokeResource]] = []
