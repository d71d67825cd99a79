"""Supervision orders, report review, problems raised and interviews."""
