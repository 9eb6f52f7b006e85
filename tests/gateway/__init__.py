"""Helpers for the gateway tests: a scripted FIX counterparty and a recording application."""
