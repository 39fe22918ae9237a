"""Fixtures for the identity tests: a fixed clock, a root, identities."""

from __future__ import annotations

import pytest

from smimesh.identity import CertificateAuthority, SpiffeId, create_root
from smimesh.testing.identity_helpers import NOW, TRUST_DOMAIN


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
