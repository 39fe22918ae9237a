"""Public test kit: the bookstore world, golden helpers, an ADS test client, a request simulator,
and small helpers for end-to-end tests on loopback (free ports, waiting for things)."""
