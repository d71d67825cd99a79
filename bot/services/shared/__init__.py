"""Plumbing the features share: errors, audit, times, limits, cells, the outbox."""
