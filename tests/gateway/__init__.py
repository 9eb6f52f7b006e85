"""Helpers for the gateway tests: a scripted FIX counterparty, a rule-based venue and a queue of order-entry events."""
