"""A Kubernetes API server for tests (kube-apiserver cannot run here): `KubeApiServer`.

Follows the API conventions smimesh relies on — discovery, CRUD on any resource (built-in kinds and
every applied CRD, stored in the CRD's storage version through its conversion webhook),
resourceVersions, list + watch from a resourceVersion with bookmarks, 410 Gone after `compact()`,
label/field selectors, 409 on a stale resourceVersion, TokenReview for tokens it issues, validating
admission webhooks over HTTPS with the configured caBundle. kubectl works against it. What it covers
and what not: docs/kubernetes.md.
"""

from smimesh.testing.kubeapi.server import KubeApiServer, collection_path

__all__ = ["KubeApiServer", "collection_path"]
