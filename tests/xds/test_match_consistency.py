"""The Envoy route a split match generates accepts exactly the requests `mesh.access` says it matches.

Property test: random HTTPRouteGroup matches (path regex, methods, header regexes) and random requests;
the generated RouteMatch, evaluated the way Envoy does (simulator), must agree with the mesh's own
`request_matches` (used by `explain` and RBAC). Guards the A3/A4 anchoring rules on both sides.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from smimesh.mesh.access import HttpRequest, request_matches
from smimesh.mesh.model import HttpMatch
from smimesh.testing.simulator import route_matches
from smimesh.xds.routes import route_match

SEGMENTS = ["/api", "/books", "/b", "/metrics", "/"]
REGEXES = ["", "/api", "/books/.*", "/b[0-9]+", ".*", "/metrics$", "^/api/v1", "/(api|books)"]
METHODS = ["GET", "POST", "PUT", "DELETE"]
HEADER_REGEXES = [".*", "a+", "x-.*", "^b$", "[0-9]+"]

matches = st.builds(
    HttpMatch,
    name=st.just("m"),
    path_regex=st.sampled_from(REGEXES),
    methods=st.lists(st.sampled_from([*METHODS, "*"]), max_size=3, unique=True).map(
        lambda m: tuple(sorted(m))
    ),
    headers=st.lists(
        st.tuples(st.sampled_from(["x-a", "x-b", "host"]), st.sampled_from(HEADER_REGEXES)),
        max_size=2,
        unique_by=lambda h: h[0],
    ).map(lambda h: tuple(sorted(h))),
)
requests = st.builds(
    lambda path, query, method, headers: (path + query, method, headers),
    st.lists(st.sampled_from([*SEGMENTS, "/1", "/v1", "/x"]), min_size=1, max_size=3).map("".join),
    st.sampled_from(["", "?q=1", "?api"]),
    st.sampled_from(METHODS),
    st.dictionaries(
        st.sampled_from(["x-a", "x-b"]), st.sampled_from(["a", "aa", "b", "x-1", "12", ""]), max_size=2
    ),
)


@settings(max_examples=400, deadline=None)
@given(match=matches, request=requests)
def test_generated_route_and_mesh_evaluation_agree(
    match: HttpMatch, request: tuple[str, str, dict[str, str]]
) -> None:
    path, method, headers = request
    host = "bookstore.bookstore"
    envoy_headers = {":authority": host, ":method": method, ":path": path, **headers}
    mesh_request = HttpRequest.of(method, path, {**headers, ":authority": host})
    normalised = HttpMatch(
        match.name, match.path_regex, () if "*" in match.methods else match.methods, match.headers
    )
    assert route_matches(route_match(normalised), path, envoy_headers) == request_matches(
        normalised, mesh_request
    )
