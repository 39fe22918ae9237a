"""The data-plane benchmark's parts (B1): backend, certificates, static Envoy pair, smimesh paths, load.

`bench_dataplane.py` composes them: every path is a context manager that starts its processes, yields
a `Target` (where the load goes, which proxy processes to account for, what the path really had) and
stops everything it started.
"""
