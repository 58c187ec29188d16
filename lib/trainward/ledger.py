"""Compatibility alias: `from trainward.ledger import open_run` (the ledger writer API that
users' training code imports) keeps working. The module is `trainward.runs.ledger`; new code
can also write `from trainward import open_run`."""

from trainward.runs.ledger import LedgerReader, LedgerWriter, open_run

__all__ = ["LedgerReader", "LedgerWriter", "open_run"]
