"""The ledger: append-only, durable, Merkle-hashed store of every event.

The only source of truth. Everything else (history, trails, insights) is derived from
it by readers that remember how far they got.
"""

from opentrail.ledger._merkle import EMPTY_ROOT, CompactRange, leaf_hash, node_hash, root_of
from opentrail.ledger._reader import Mismatch, VerifyReport, bodies, tree_head, verify_ledger
from opentrail.ledger._schema import LEDGER_FILE, open_reader
from opentrail.ledger._writer import LedgerWriter

__all__ = [
    "EMPTY_ROOT",
    "LEDGER_FILE",
    "CompactRange",
    "LedgerWriter",
    "Mismatch",
    "VerifyReport",
    "bodies",
    "leaf_hash",
    "node_hash",
    "open_reader",
    "root_of",
    "tree_head",
    "verify_ledger",
]
