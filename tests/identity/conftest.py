"""Fixtures for the identity tests: a fixed clock, a root, identities.

The helper modules next to this file (`identity_helpers`, `identity_envoy_world`,
`identity_file_sds`, names no other test directory uses) are made importable here, so the tests
import them the same way under pytest's `prepend` and `importlib` import modes.
"""

from __future__ import annotations

import sys
from pathlib import Path

if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

import pytest
from identity_helpers import NOW, TRUST_DOMAIN

from smimesh.identity import CertificateAuthority, SpiffeId, create_root


@pytest.fixture(scope="session")
def root() -> CertificateAuthority:
    return create_root(trust_domain=TRUST_DOMAIN, now=NOW)


@pytest.fixture(scope="session")
def other_root() -> CertificateAuthority:
    return create_root(trust_domain=TRUST_DOMAIN, now=NOW)


@pytest.fixture
def bookstore() -> SpiffeId:
    return SpiffeId(TRUST_DOMAIN, "bookstore", "bookstore")


@pytest.fixture
def bookbuyer() -> SpiffeId:
    return SpiffeId(TRUST_DOMAIN, "bookbuyer", "bookbuyer")
