"""The identity task of a running mesh: certificates for every identity, renewed on time, pushed by SDS.

Owns `MeshSecurity`, the one object `smimesh up` plugs into its pipeline and xDS server:
- `build_model` / `proxy_view` / `generate`: the pipeline's three functions, secured (the model in
  the traffic-policy mode; `xds.security.secure_view` with this mesh's modes and current identity
  bundles; `xds.generate`, which given a secured view adds mTLS, RBAC and SDS secrets);
- `affected(old_model, new_model)`: the pipeline's index for the secured view
  (`xds.secure_impact` plus the identities whose leaf was renewed; None when the modes or the trust
  bundle changed), a function of the two models only: each model carries the certificates its views
  see (`runtime.certificates`: `build_model` runs the `sync_certificates` step);
- `set_modes(modes)`: a saved MeshConfig (`runtime.mesh_config` watches the file); the next rebuild
  recomputes every view with them;
- `hooks`: the xDS authenticator (per-node bootstrap credential) and the SDS guard;
- `bootstrap_metadata(node_id)`: what the sidecar launcher writes into each bootstrap;
- `async run(changed)`: sleeps until the certificate book's next renewal (or root phase change),
  renews, and calls `changed()` (the pipeline's `mark_changed`) so new secrets are pushed over SDS;
- `status()`: mode per namespace and certificate expiry per identity, for `smimesh status`.

The root CA is loaded from (or created in) the run directory (`<run>/ca/`, key 0600), or is the
user's (`--ca-cert/--ca-key`, a root or an intermediate with its chain): a user's CA is used as
given, never rotated and never copied into the run directory (its lifetime is the user's to
manage; smimesh cannot make a replacement the user's PKI trusts). Leaves live in memory only; with
`derived_leaves` (the cluster's replicas) they are derived from the CA, not random (identity/derived.py).
Every identity of the model gets a leaf when the model is built, so a new sidecar's secrets are in
its very first snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from smimesh.diagnostics import Diagnostic, has_errors
from smimesh.errors import InvalidInputError
from smimesh.identity import (
    BookChanges,
    CertificateBook,
    IdentityBundle,
    RotationPhase,
    SpiffeId,
    create_root,
    load_or_create_root,
    save_root,
)
from smimesh.identity.ca import CLOCK_SKEW_ALLOWANCE, CertificateAuthority
from smimesh.identity.store import load_root_files
from smimesh.mesh import build_model as _build_model
from smimesh.mesh.modes import DEFAULT_MODES, EgressMode, MeshModes, load_mesh_config
from smimesh.runtime.certificates import Issued, SecuredModel, certificates_affected, sync_certificates
from smimesh.runtime.pipeline import Steps
from smimesh.server.sds import SecretGuard
from smimesh.server.xds_auth import NodeAuthenticator
from smimesh.settings import Settings
from smimesh.xds.generate import generate as _generate
from smimesh.xds.secure_impact import secure_affected_nodes
from smimesh.xds.security import SecureView, secure_view

Clock = Callable[[], datetime]
_MIN_SLEEP_S = 0.01


def utc_now() -> datetime:
    return datetime.now(UTC)


def _issued_at(root: CertificateAuthority) -> datetime:
    """When a root was made: its notBefore is backdated by the clock-skew allowance."""
    return root.not_before + CLOCK_SKEW_ALLOWANCE


def _rotation_due(root: CertificateAuthority, fraction: float) -> datetime:
    issued = _issued_at(root)
    return issued + (root.not_after - issued) * fraction


class MeshSecurity:
    """Identity, mTLS, access modes and xDS authentication of one running mesh."""

    def __init__(
        self,
        run_dir: Path,
        settings: Settings,
        *,
        modes: MeshModes = DEFAULT_MODES,
        clock: Clock = utc_now,
        user_ca: tuple[Path, Path] | None = None,
        derived_leaves: bool = False,
    ) -> None:
        self.settings, self.modes, self._clock = settings, modes, clock
        self.user_ca = user_ca  # (cert, key) files: the user's CA, left alone by root rotation
        root, self.root_created = self._load_root(run_dir)
        # Derived leaves (identity/derived.py): every replica sharing the CA serves the same bytes.
        self.book = CertificateBook.from_settings(root, settings, derived=derived_leaves)
        self._apply_leaf_lifetime(modes)
        self.mesh_config_warnings: list[Diagnostic] = []  # e.g. an OSM MeshConfig's unmapped fields
        self.run_dir, self._saved_root, self.root_rotations = run_dir, root.key_id, 0
        self.authenticator = NodeAuthenticator()
        self._model: Any = None
        self.guard = SecretGuard(self.identity_of_node)
        self._wake = asyncio.Event()
        self.renewals = 0

    def _load_root(self, run_dir: Path) -> tuple[CertificateAuthority, bool]:
        if self.user_ca is not None:
            cert, key = self.user_ca
            return load_root_files(cert, key, now=self._clock()), False
        lifetime = timedelta(seconds=self.settings.root_lifetime_s)
        return load_or_create_root(
            run_dir, trust_domain=self.settings.trust_domain, now=self._clock(), lifetime=lifetime
        )

    @classmethod
    def from_config(
        cls,
        run_dir: Path,
        settings: Settings,
        mesh_config: Path | None = None,
        user_ca: tuple[Path, Path] | None = None,
    ) -> MeshSecurity:
        """Security for `smimesh up`: modes from the MeshConfig file (InvalidInputError if it is bad),
        the user's CA if given (CaMaterialError, with the fix, if it cannot sign mesh leaves)."""
        modes = DEFAULT_MODES
        if mesh_config is not None:
            modes, problems = load_mesh_config(mesh_config)
            if has_errors(problems):
                raise InvalidInputError(
                    f"{mesh_config} is not a valid MeshConfig",
                    problems,
                    hint="fix it, or start without --mesh-config (smi + strict)",
                )
        security = cls(run_dir, settings, modes=modes, user_ca=user_ca)
        security.mesh_config_warnings = list(problems) if mesh_config is not None else []
        return security

    @property
    def hooks(self) -> list[Any]:
        return [self.authenticator, self.guard]

    def bootstrap_metadata(self, node_id: str) -> list[dict[str, str]]:
        return self.authenticator.bootstrap_metadata(node_id)

    # ---- the pipeline's functions -------------------------------------------------------------

    def set_modes(self, modes: MeshModes) -> bool:
        """New modes (a saved MeshConfig); the next rebuild uses them everywhere. True if they differ."""
        changed, self.modes = modes != self.modes, modes
        self._apply_leaf_lifetime(modes)
        return changed

    def _apply_leaf_lifetime(self, modes: MeshModes) -> None:
        """An OSM MeshConfig's certificate validity: the lifetime of every leaf issued from now on."""
        seconds = modes.leaf_lifetime_s or self.settings.leaf_lifetime_s
        self.book.leaf_lifetime = timedelta(seconds=seconds)

    def build_model(self, snapshot: Any, instances: Iterable[Any], **options: Any) -> SecuredModel:
        """The model in this mesh's modes, then the certificate step: the returned model carries the
        modes and bundles its secured views are built from (`runtime.certificates`)."""
        modes = self.modes
        model = _build_model(
            snapshot,
            instances,
            permissive=modes.open,
            semantics=modes.semantics,
            egress_open=modes.egress is EgressMode.OPEN,
            egress_enforced=modes.egress_enforced,
            **options,
        )
        trust_domain = self.settings.trust_domain
        last = self._model.issued if self._model is not None else None  # carried over when still current
        secured, changes = sync_certificates(self.book, model, modes, self._clock(), trust_domain, last)
        if changes:
            self._wake.set()  # a new identity: the renewal schedule may have moved earlier
        self._model = secured
        return secured

    def proxy_view(self, model: Any, node_id: str) -> SecureView:
        # The modes and bundles this model was built with: a MeshConfig saved during a pass must
        # not mix two sets of modes in one pass (the next pass recomputes every view with the new).
        issued: Issued | None = getattr(model, "issued", None)
        if issued is None:
            return secure_view(model, node_id, self.modes, self.bundle_of)
        return secure_view(model, node_id, issued.modes, issued.bundle_of)

    def pipeline_steps(self) -> Steps:
        """The pipeline's steps for the secured mesh (`Pipeline(store, cache, **steps)`): the model with
        a leaf for every identity and the modes, views with mTLS/RBAC input and bundles, the secured
        config, and the index of the views a change (policy, leaf, ...) can alter. `smimesh up`, the
        controller and the benchmarks wire the same four."""
        return Steps(
            build_model=self.build_model,
            proxy_view=self.proxy_view,
            generate=self.generate,
            affected=self.affected,
        )

    @staticmethod
    def generate(view: SecureView) -> dict[str, list[Any]]:
        return _generate(view)

    @staticmethod
    def affected(old: Any, new: Any) -> frozenset[str] | None:
        """The nodes whose secured view may differ between two models (a superset), or None for all.

        Depends on the two models only (each carries its certificates and modes): the same answer
        whenever it is asked, whatever was built in between."""
        renewed = certificates_affected(old, new)  # None: the modes, the trust or a record differ
        if renewed is None:
            return None
        nodes = secure_affected_nodes(old, new, new.issued.modes.audit_namespaces)
        return None if nodes is None else nodes | renewed

    def bundle_of(self, identity: SpiffeId) -> IdentityBundle | None:
        return self.book.bundle(identity) if identity in self.book else None

    def identity_of_node(self, node_id: str) -> SpiffeId | None:
        instance = self._model.instance(node_id) if self._model is not None else None
        return None if instance is None else self._spiffe(instance.namespace, instance.service_account)

    def _spiffe(self, namespace: str, service_account: str) -> SpiffeId:
        return SpiffeId(self.settings.trust_domain, namespace, service_account)

    # ---- renewal ------------------------------------------------------------------------------

    async def run(self, changed: Callable[[], None]) -> None:
        """Renew leaves (and rotate the root) when due, and tell the pipeline (cancel to stop)."""
        while True:
            self._wake.clear()
            await self._sleep_until_due()
            now = self._clock()
            changes = self._rotate_root_if_due(now) or self.book.sync(self.book.identities, now)
            if changes:
                self.renewals += 1
                changed()
            self._save_root_when_rotated()

    def _rotate_root_if_due(self, now: datetime) -> BookChanges | None:
        """Start a rotation to a fresh root when the managed root has lived `root_rotate_at_fraction`
        of its life (never for a user's CA: see the module docstring).

        Phases come from settings, capped by the leaf lifetime (a leaf must renew within them): the
        new root is trusted everywhere before it signs, and the old one is trusted until every
        reissued leaf has been delivered.
        """
        state = self.book.root_state
        due = self._root_rotation_due()
        if due is None or state.phase is not RotationPhase.STEADY or now < due:
            return None
        root_lifetime = state.signer.not_after - _issued_at(state.signer)
        new_root = create_root(trust_domain=self.settings.trust_domain, now=now, lifetime=root_lifetime)
        distribute, overlap = self._rotation_phases()
        self.root_rotations += 1
        return self.book.begin_root_rotation(new_root, now, distribute=distribute, overlap=overlap)

    def _root_rotation_due(self) -> datetime | None:
        if self.user_ca is not None:
            return None
        return _rotation_due(self.book.root_state.signer, self.settings.root_rotate_at_fraction)

    def _rotation_phases(self) -> tuple[timedelta, timedelta]:
        leaf = timedelta(seconds=self.settings.leaf_lifetime_s)
        distribute = timedelta(seconds=self.settings.root_distribute_s)
        overlap = timedelta(seconds=self.settings.root_overlap_s)
        distribute = min(distribute, max(timedelta(seconds=1), leaf / 4))
        return distribute, min(overlap, max(timedelta(seconds=2), leaf / 2))

    def _save_root_when_rotated(self) -> None:
        signer = self.book.root_state.signer
        if self.book.root_state.phase is RotationPhase.STEADY and signer.key_id != self._saved_root:
            save_root(self.run_dir, signer)  # the next `smimesh up` starts from the new root
            self._saved_root = signer.key_id

    async def _sleep_until_due(self) -> None:
        due = [t for t in (self.book.next_wakeup(), self._root_rotation_due()) if t is not None]
        delay = (min(due) - self._clock()).total_seconds() if due else self.settings.identity_max_sleep_s
        delay = min(max(delay, _MIN_SLEEP_S), self.settings.identity_max_sleep_s)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), delay)

    # ---- status -------------------------------------------------------------------------------

    def status(self, namespaces: Iterable[str] = ()) -> dict[str, Any]:
        """Modes per namespace and each identity's certificate (serial, expiry, next renewal)."""
        now = self._clock()
        certificates = []
        for identity in sorted(self.book.identities):
            leaf = self.book.bundle(identity).leaf
            certificates.append(
                {
                    "identity": identity.uri,
                    "serial": f"{leaf.serial:x}",
                    "not_after": leaf.not_after.isoformat(),
                    "expires_in_s": round((leaf.not_after - now).total_seconds(), 1),
                    "renew_at": self.book.renew_at(identity).isoformat(),
                }
            )
        known = set(namespaces) | {i.namespace for i in self.book.identities}
        root = self.book.root_state
        return {
            "root": {
                "phase": root.phase.value,
                "fingerprint": root.signer.fingerprint,
                "not_after": root.signer.not_after.isoformat(),
                "rotations": self.root_rotations,
                "source": "user (--ca-cert)" if self.user_ca is not None else "smimesh (run dir)",
            },
            "traffic_policy": self.modes.traffic_policy.value,
            "mtls": self.modes.mtls.value,
            "namespaces": [self.modes.describe(ns) for ns in sorted(known)],
            "certificates": certificates,
            "xds_refusals": len(self.authenticator.refusals) + len(self.guard.refusals),
        }
