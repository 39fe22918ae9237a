"""Identity: SPIFFE ids, the built-in CA, leaf issuance, renewal and root rotation, the root's storage.

Public interface (everything pure takes the time as a parameter):

- `SpiffeId(trust_domain, namespace, service_account)`, `SpiffeId.parse(uri)`, `.uri`
- `create_root(trust_domain=, now=)`, `load_root(cert_pem, key_pem, now=)` -> `CertificateAuthority`
- `issue_leaf(ca, identity, now=, lifetime=)` -> `Leaf` (certificate and key PEM, in memory only)
- `TrustBundle`, `IdentityBundle`: what SDS secrets are built from
- `RenewalPolicy`, `RootState` (root rotation state machine), `CertificateBook` (leaves kept fresh)
- `load_or_create_root(state_dir, trust_domain=, now=)`, `load_root_files(cert, key, now=)` (store)
"""

from smimesh.identity.book import BookChanges, CertificateBook
from smimesh.identity.bundle import IdentityBundle, TrustBundle, TrustedRoot
from smimesh.identity.ca import CertificateAuthority, create_root
from smimesh.identity.errors import CaMaterialError, IdentityError, InsecureKeyFileError, InvalidSpiffeIdError
from smimesh.identity.keys import KeyAlgorithm
from smimesh.identity.leaf import DEFAULT_LEAF_LIFETIME, Leaf, issue_leaf
from smimesh.identity.rotation import RenewalPolicy, RootState, RotationInProgressError, RotationPhase
from smimesh.identity.spiffe import SpiffeId
from smimesh.identity.store import load_or_create_root, load_root_files, save_root
from smimesh.identity.user_ca import load_root

__all__ = [
    "DEFAULT_LEAF_LIFETIME",
    "BookChanges",
    "CaMaterialError",
    "CertificateAuthority",
    "CertificateBook",
    "IdentityBundle",
    "IdentityError",
    "InsecureKeyFileError",
    "InvalidSpiffeIdError",
    "KeyAlgorithm",
    "Leaf",
    "RenewalPolicy",
    "RootState",
    "RotationInProgressError",
    "RotationPhase",
    "SpiffeId",
    "TrustBundle",
    "TrustedRoot",
    "create_root",
    "issue_leaf",
    "load_or_create_root",
    "load_root",
    "load_root_files",
    "save_root",
]
