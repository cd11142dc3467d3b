"""The ledger: append-only, durable, Merkle-hashed store of every event.

The only source of truth. Everything else (history, trails, insights) is derived from
it by readers that remember how far they got; they read it only through a
`LedgerReader` (`open_ledger_reader` for the SQLite ledger).
"""

from opentrail.ledger._audit import (
    CheckpointSource,
    LedgerAudit,
    NoCheckpoints,
    SqliteLedgerAudit,
)
from opentrail.ledger._checkpoint import (
    CHECKPOINT_KEY_FILE,
    CHECKPOINTS_FILE,
    Checkpoint,
    Checkpointer,
    load_signer,
    open_checkpoint,
)
from opentrail.ledger._checkpoint_rows import (
    CheckpointRow,
    CheckpointRows,
    SqliteCheckpointRows,
)
from opentrail.ledger._export import LedgerExport
from opentrail.ledger._journal import JOURNAL_DIR, AuditJournal, Journal
from opentrail.ledger._merkle import EMPTY_ROOT, CompactRange, leaf_hash, node_hash, root_of
from opentrail.ledger._note import NoteError, NoteSigner, NoteVerifier
from opentrail.ledger._proof import (
    ProofError,
    consistency_proof,
    inclusion_proof,
    root_from_inclusion,
    verify_consistency,
    verify_inclusion,
)
from opentrail.ledger._reader import BodyRow, LedgerReader, LedgerRow, scan, tree_head
from opentrail.ledger._schema import LEDGER_FILE, open_reader, recorded_retention
from opentrail.ledger._sqlite_reader import SqliteLedgerReader, open_ledger_reader
from opentrail.ledger._tree import TREE_FILE, LedgerEntry, TreeFollower, TreeReader
from opentrail.ledger._verify import (
    Mismatch,
    Retention,
    SignedCheckpoints,
    VerifyReport,
    verify_ledger,
    verify_reader,
)
from opentrail.ledger._writer import LedgerWriter

__all__ = [
    "CHECKPOINTS_FILE",
    "CHECKPOINT_KEY_FILE",
    "EMPTY_ROOT",
    "JOURNAL_DIR",
    "LEDGER_FILE",
    "TREE_FILE",
    "AuditJournal",
    "BodyRow",
    "Checkpoint",
    "CheckpointRow",
    "CheckpointRows",
    "CheckpointSource",
    "Checkpointer",
    "CompactRange",
    "Journal",
    "LedgerAudit",
    "LedgerEntry",
    "LedgerExport",
    "LedgerReader",
    "LedgerRow",
    "LedgerWriter",
    "Mismatch",
    "NoCheckpoints",
    "NoteError",
    "NoteSigner",
    "NoteVerifier",
    "ProofError",
    "Retention",
    "SignedCheckpoints",
    "SqliteCheckpointRows",
    "SqliteLedgerAudit",
    "SqliteLedgerReader",
    "TreeFollower",
    "TreeReader",
    "VerifyReport",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "load_signer",
    "node_hash",
    "open_checkpoint",
    "open_ledger_reader",
    "open_reader",
    "recorded_retention",
    "root_from_inclusion",
    "root_of",
    "scan",
    "tree_head",
    "verify_consistency",
    "verify_inclusion",
    "verify_ledger",
    "verify_reader",
]
