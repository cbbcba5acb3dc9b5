"""Guard limits for tests whose hand-written batches are mostly bad rows on purpose (to test
the rules and the quarantine): with these the guard refuses nothing."""

from flowmosaic.config import IngestGuard

LENIENT = IngestGuard(max_rejected_pct=100.0, max_drop_pct=100.0)
