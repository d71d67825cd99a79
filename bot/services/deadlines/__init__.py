"""Reminders before the deadline and the escalation ladder after it."""
