"""Scheduled jobs: they decide who must be told what and enqueue; the outbox delivers."""
