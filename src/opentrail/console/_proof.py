"""An event's inclusion proof, checked on the server, for the event page.

The same proof `GET /opentrail/v1/proofs/inclusion` answers (through the same access
check), verified here against the root of the signed checkpoint that covers the event.
The page shows the outcome in words; the API gives the hashes for independent checking.
"""

from __future__ import annotations

from dataclasses import dataclass

from opentrail.api._proofs import inclusion
from opentrail.auth import AuthContext
from opentrail.errors import OpenTrailError
from opentrail.ledger import Checkpointer, ProofError, verify_inclusion

__all__ = ["ProofStatus", "proof_status"]


@dataclass(frozen=True)
class ProofStatus:
    ok: bool
    message: str
    leaf_index: int | None = None
    tree_size: int | None = None
    checkpoint_time: str = ""


def proof_status(checkpoints: Checkpointer | None, ctx: AuthContext, event_id: str,
                 account: str) -> ProofStatus:
    if checkpoints is None:
        return ProofStatus(False, "This server keeps no Merkle tree, so there is no proof.")
    try:
        answer = inclusion(checkpoints, ctx, {"eventId": event_id, "accountId": account})
        checkpoint = checkpoints.checkpoint_at(answer["treeSize"])
        if checkpoint is None:
            return ProofStatus(False, "The checkpoint for this proof is not stored yet.")
        verify_inclusion(answer["leafIndex"], answer["treeSize"],
                         bytes.fromhex(answer["leafHash"]),
                         [bytes.fromhex(h) for h in answer["hashes"]], checkpoint.root)
    except OpenTrailError as err:
        return ProofStatus(False, err.message)
    except ProofError as err:
        return ProofStatus(False, f"The proof does not verify: {err}")
    return ProofStatus(True, "Included in the signed ledger; the proof verifies against the "
                             "signed checkpoint.", answer["leafIndex"], answer["treeSize"],
                       checkpoint.to_json()["time"])
