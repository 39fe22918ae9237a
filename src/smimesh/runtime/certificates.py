"""Certificate sync, a step of the secured pipeline: a model in, the certificates its views see out.

Owns `Issued` (the modes and every identity's bundle that the secured views of one model are built
from), `sync_certificates` (the step: leaves for every identity of a model, from the certificate
book), `SecuredModel` (a `MeshModel` that carries its `Issued`, so what a rebuild's views saw travels
with the model instead of living in `MeshSecurity`) and `certificates_affected` (which sidecars'
secured views differ between two such records).

Because each model carries its own record, `MeshSecurity.affected(old, new)` is a function of its
two arguments: it gives the same answer whenever it is called, whatever was built in between (a
quarantine's trial builds, a second pipeline).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any

from smimesh.identity import BookChanges, CertificateBook, IdentityBundle, SpiffeId
from smimesh.mesh.model import MeshModel
from smimesh.mesh.modes import MeshModes


@dataclass(frozen=True)
class Issued:
    """What the secured views of one model see: the modes and each identity's certificate bundle."""

    modes: MeshModes
    bundles: Mapping[SpiffeId, IdentityBundle]
    trust_domain: str
    book_version: int = -1  # the book's version the bundles were read at (-1: unknown, never reused)
    accounts: frozenset[tuple[str, str]] = frozenset()  # (namespace, service account) of the bundles
    wakeup: datetime | None = None  # the book's next renewal or root phase change at that version
    instances: Mapping[str, Any] = field(default_factory=dict, compare=False)  # last checked against

    def bundle_of(self, identity: SpiffeId) -> IdentityBundle | None:
        return self.bundles.get(identity)

    @property
    def trust(self) -> set[Any]:
        return {bundle.trust for bundle in self.bundles.values()}

    def identity_of(self, model: MeshModel, node_id: str) -> SpiffeId | None:
        """The SPIFFE id a node's certificate names (None for a node `model` does not have)."""
        instance = model.instance(node_id)
        if instance is None:
            return None
        return SpiffeId(self.trust_domain, instance.namespace, instance.service_account)


@dataclass(frozen=True)
class SecuredModel(MeshModel):
    """A mesh model with the certificates its secured views are built from (`sync_certificates`)."""

    issued: Issued | None = None


def sync_certificates(
    book: CertificateBook,
    model: MeshModel,
    modes: MeshModes,
    now: datetime,
    trust_domain: str,
    previous: Issued | None = None,
) -> tuple[SecuredModel, BookChanges]:
    """Leaves for every identity of `model` (issued now if missing), and the model carrying what its
    views see; the book's changes say whether the renewal schedule may have moved. `previous` (an
    earlier model's record) is carried over with the same bundles when the book cannot have changed
    for this model: same modes, same book version, no new account among the instances that changed,
    no renewal due yet (endpoint churn then costs no certificate work, and `certificates_affected`
    sees the same bundles: nothing renewed)."""
    instances = model.instances
    if previous is not None and _still_current(previous, book, modes, now, trust_domain, instances):
        return _secured(model, replace(previous, instances=instances)), BookChanges()
    identities = {SpiffeId(trust_domain, i.namespace, i.service_account) for i in instances.values()}
    changes = book.sync(identities | book.identities, now)
    bundles = {identity: book.bundle(identity) for identity in book.identities}
    held = frozenset((i.namespace, i.service_account) for i in bundles)
    issued = Issued(modes, bundles, trust_domain, book.version, held, book.next_wakeup(), instances)
    return _secured(model, issued), changes


def _still_current(
    issued: Issued,
    book: CertificateBook,
    modes: MeshModes,
    now: datetime,
    trust_domain: str,
    instances: Mapping[str, Any],
) -> bool:
    """Whether `book.sync` for the accounts of `instances` now would change nothing `issued` records
    (only the instances not identical to those it was last checked against are looked at)."""
    if issued.book_version != book.version or issued.modes != modes or issued.trust_domain != trust_domain:
        return False
    if issued.wakeup is not None and now >= issued.wakeup:
        return False
    seen, accounts = issued.instances, issued.accounts
    changed = (i for node, i in instances.items() if seen.get(node) is not i)
    return all((i.namespace, i.service_account) in accounts for i in changed)


def _secured(model: MeshModel, issued: Issued) -> SecuredModel:
    values = {f.name: getattr(model, f.name) for f in fields(MeshModel)}
    return SecuredModel(**values, issued=issued)


def _carried_over(before: Issued, after: Issued) -> bool:
    same = before.modes == after.modes and before.trust_domain == after.trust_domain
    return before.bundles is after.bundles and same


def certificates_affected(old: MeshModel, new: MeshModel) -> frozenset[str] | None:
    """The nodes of `new` whose identity's bundle differs between the two models' certificates, or
    None (every node) when the modes or the trust bundle changed, or a model carries no record."""
    before, after = getattr(old, "issued", None), getattr(new, "issued", None)
    if before is not None and after is not None and _carried_over(before, after):
        return frozenset()  # the bundles carried over (`sync_certificates`): nothing renewed
    if before is None or after is None or before.modes != after.modes or before.trust != after.trust:
        return None
    if before.trust_domain != after.trust_domain:
        return None
    keys = before.bundles.keys() | after.bundles.keys()
    renewed = {i for i in keys if before.bundles.get(i) != after.bundles.get(i)}
    if not renewed:
        return frozenset()
    return frozenset(node for node in new.instances if after.identity_of(new, node) in renewed)


__all__ = ["Issued", "SecuredModel", "certificates_affected", "sync_certificates"]
