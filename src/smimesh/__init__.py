"""smimesh: a service mesh configured with the Service Mesh Interface (SMI), with Envoy as its data plane."""

__version__ = "0.1.0"
