"""Sources of resources: the store (one current set, by key and origin), the file source
(load + watch a directory) and the durable layer for API-applied resources.
"""

from smimesh.sources.changes import StoreChange, Subscription
from smimesh.sources.store import API_ORIGIN, ResourceStore, StoredObject

__all__ = ["API_ORIGIN", "ResourceStore", "StoreChange", "StoredObject", "Subscription"]
