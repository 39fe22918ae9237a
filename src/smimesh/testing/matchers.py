"""Envoy's string, header and route matchers, as the simulator follows them (only what smimesh generates)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import re2
from envoy.config.route.v3 import route_components_pb2 as rc


def string_matches(matcher: Any, value: str) -> bool:
    kind = matcher.WhichOneof("match_pattern")
    if kind == "exact":
        return bool(value == matcher.exact)
    if kind == "prefix":
        return value.startswith(matcher.prefix)
    if kind == "suffix":
        return value.endswith(matcher.suffix)
    if kind == "safe_regex":
        return re2.fullmatch(matcher.safe_regex.regex, value) is not None
    raise NotImplementedError(f"string matcher {kind}")


def header_matches(matcher: rc.HeaderMatcher, headers: Mapping[str, str]) -> bool:
    value = headers.get(matcher.name)
    kind = matcher.WhichOneof("header_match_specifier")
    if kind == "present_match":
        result = value is not None
    elif kind == "string_match":
        result = value is not None and string_matches(matcher.string_match, value)
    else:
        raise NotImplementedError(f"header matcher {kind}")
    return bool(result != matcher.invert_match)


def route_matches(match: rc.RouteMatch, path: str, headers: Mapping[str, str]) -> bool:
    """Does an Envoy RouteMatch accept this path and these headers (`:method`, `:authority` included)?"""
    bare = path.split("?", 1)[0]
    kind = match.WhichOneof("path_specifier")
    if kind == "prefix":
        ok = bare.startswith(match.prefix)
    elif kind == "path":
        ok = bare == match.path
    elif kind == "safe_regex":
        ok = re2.fullmatch(match.safe_regex.regex, bare) is not None
    else:
        raise NotImplementedError(f"route path specifier {kind}")
    return ok and all(header_matches(h, headers) for h in match.headers)
