"""Delivery of the outbox to Telegram: splitting, rate limits, the sender and its leases."""
