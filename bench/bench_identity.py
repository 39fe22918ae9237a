"""Identity benchmark: issue N leaf certificates, then rotate them all; EC P-256 against RSA-2048.

    .venv/bin/python -m bench.bench_identity [--quick] [--results-dir DIR]

Measured with the process CPU clock (what issuance costs the control plane, whatever else the
machine is doing), through the same `CertificateBook` the runtime uses, on virtual time:

- issue:         `sync` of N new identities (one key pair + one signed certificate each);
- renew:         `sync` at the renewal time, when every leaf is due (N reissues);
- root rotation: a new root, then `sync` past the distribution phase (N reissues under it);
- SDS secrets:   building the Envoy `Secret` protos of all N identities (xds.secrets).

Target (issue 5): issuing 1,000 EC leaves and rotating them all under 1 s of CPU. RSA-2048 runs
on a smaller sample in the same run (key generation alone costs ~50-100 ms each) and is
reported per leaf and extrapolated to N, with the RSA/EC ratio. Writes bench/results/identity.json
(identity-quick.json with --quick).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import envelope
from smimesh.identity import CertificateBook, KeyAlgorithm, SpiffeId, create_root, issue_leaf
from smimesh.xds import secrets

TRUST_DOMAIN = "cluster.local"
START = datetime(2026, 1, 1, tzinfo=UTC)
TARGET_CPU_S = 1.0


def cpu_seconds(action: Callable[[], object]) -> float:
    started = time.process_time()
    action()
    return time.process_time() - started


def identities(count: int) -> list[SpiffeId]:
    return [SpiffeId(TRUST_DOMAIN, f"ns{i % 50}", f"sa{i}") for i in range(count)]


def ec_book_run(count: int) -> dict[str, Any]:
    """Issue, renew and root-rotate `count` EC leaves through the CertificateBook."""
    ids = identities(count)
    book = CertificateBook(
        create_root(trust_domain=TRUST_DOMAIN, now=START), trust_domain=TRUST_DOMAIN, jitter=lambda: 0.0
    )
    issue = cpu_seconds(lambda: book.sync(ids, START))
    renew_time = START + timedelta(hours=12)
    renew = cpu_seconds(lambda: book.sync(ids, renew_time))
    new_root = create_root(trust_domain=TRUST_DOMAIN, now=renew_time)
    book.begin_root_rotation(new_root, renew_time, distribute=timedelta(seconds=10))
    rotate_root = cpu_seconds(lambda: book.sync(ids, renew_time + timedelta(seconds=10)))
    assert all(book.bundle(i).leaf.issuer_key_id == new_root.key_id for i in ids)
    build_secrets = cpu_seconds(lambda: [secrets.secrets_for(book.bundle(i)) for i in ids])
    return {
        "leaves": count,
        "issue_cpu_s": round(issue, 4),
        "renew_all_cpu_s": round(renew, 4),
        "root_rotation_reissue_cpu_s": round(rotate_root, 4),
        "issue_plus_rotate_cpu_s": round(issue + renew, 4),
        "sds_secrets_build_cpu_s": round(build_secrets, 4),
        "per_leaf_ms": round(issue / count * 1000, 4),
    }


def per_leaf_cpu_ms(algorithm: KeyAlgorithm, count: int) -> float:
    """CPU per leaf issued directly (root of the same algorithm), over `count` leaves."""
    root = create_root(trust_domain=TRUST_DOMAIN, now=START, algorithm=algorithm)
    ids = identities(count)
    spent = cpu_seconds(lambda: [issue_leaf(root, i, now=START, algorithm=algorithm) for i in ids])
    return spent / count * 1000


def run(quick: bool) -> dict[str, Any]:
    count = 100 if quick else 1000
    rsa_sample = 5 if quick else 40
    book = ec_book_run(count)
    ec_ms = per_leaf_cpu_ms(KeyAlgorithm.EC_P256, rsa_sample * 5)
    rsa_ms = per_leaf_cpu_ms(KeyAlgorithm.RSA_2048, rsa_sample)
    return {
        "ec_p256_book": book,
        "target_cpu_s": TARGET_CPU_S,
        # A quick run (100 leaves) extrapolates to 1,000: shown in the envelope, not judged.
        "meets_target": None if quick else book["issue_plus_rotate_cpu_s"] < TARGET_CPU_S,
        "side_by_side": {
            "ec_p256_per_leaf_ms": round(ec_ms, 4),
            "rsa_2048_per_leaf_ms": round(rsa_ms, 4),
            "rsa_sample_leaves": rsa_sample,
            "rsa_2048_issue_plus_rotate_1000_extrapolated_cpu_s": round(rsa_ms * 2000 / 1000, 2),
            "rsa_over_ec_ratio": round(rsa_ms / ec_ms, 1),
        },
    }


def envelope_target(result: dict[str, Any], quick: bool) -> dict[str, Any]:
    """The 1 s target is about 1,000 leaves: a quick run's extrapolation is shown, not judged."""
    book = result["ec_p256_book"]
    measured = round(book["issue_plus_rotate_cpu_s"] * 1000 / book["leaves"], 4)
    name = "issue + rotate 1,000 EC P-256 leaves (CPU s)"
    name += f", extrapolated from {book['leaves']}" if quick else ""
    return envelope.target(name, f"< {TARGET_CPU_S} s", measured, result["meets_target"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 leaves, tiny RSA sample (smoke run)")
    envelope.add_results_dir(parser)
    args = parser.parse_args()
    quick = args.quick
    started = envelope.Run("identity", quick)
    result = run(quick)
    path = envelope.write(started, args.results_dir, result, [envelope_target(result, quick)])
    book, side = result["ec_p256_book"], result["side_by_side"]
    print(
        f"EC P-256: {book['leaves']} leaves issued in {book['issue_cpu_s']:.3f} s CPU, all renewed in "
        f"{book['renew_all_cpu_s']:.3f} s, reissued under a new root in "
        f"{book['root_rotation_reissue_cpu_s']:.3f} s"
    )
    print(
        f"per leaf: EC {side['ec_p256_per_leaf_ms']:.3f} ms, "
        f"RSA-2048 {side['rsa_2048_per_leaf_ms']:.1f} ms "
        f"(x{side['rsa_over_ec_ratio']}); meets the 1 s target: {result['meets_target']}; -> {path}"
    )


if __name__ == "__main__":
    main()
