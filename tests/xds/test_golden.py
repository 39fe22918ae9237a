"""Golden files for every generator, over the bookstore world and its edge cases."""

from __future__ import annotations

import pytest

from smimesh.mesh import proxy_view
from smimesh.testing.bookstore import bookstore_model
from smimesh.testing.bookstore_edges import EDGE_CASES, edge_model
from smimesh.testing.golden import Golden, as_data
from smimesh.xds import generate

BOOKSTORE_NODES = [
    "buyer-0.bookstore",
    "thief-0.bookstore",
    "bookstore-v1-0.bookstore",
    "warehouse-0.bookstore",
]

# Which sidecars show each edge case: the caller (outbound) and the server (inbound).
EDGE_NODES = {
    "split_matches": ["buyer-0.bookstore"],
    "zero_weights": ["buyer-0.bookstore"],
    "missing_backends": ["buyer-0.bookstore"],
    "root_self": ["buyer-0.bookstore"],
    "multiple_ports": ["buyer-0.bookstore", "catalog-0.bookstore"],
    "tcp_ports": ["warehouse-0.bookstore", "db-0.bookstore"],
}


@pytest.mark.parametrize("node", BOOKSTORE_NODES)
def test_bookstore(golden: Golden, node: str) -> None:
    golden.check(f"bookstore/{node}", as_data(generate(proxy_view(bookstore_model(), node))))


@pytest.mark.parametrize(("case", "node"), [(c, n) for c, nodes in EDGE_NODES.items() for n in nodes])
def test_edge_case(golden: Golden, case: str, node: str) -> None:
    golden.check(f"{case}/{node}", as_data(generate(proxy_view(edge_model(case), node))))


def test_every_edge_case_has_a_golden() -> None:
    assert set(EDGE_NODES) == set(EDGE_CASES)
