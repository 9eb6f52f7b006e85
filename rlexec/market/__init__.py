"""Shared market vocabulary, imported by every other package and importing none of them.

Instruments, sides, integer prices, order intents, market-data events, the L2 book, the
LOBSTER reader and the feature builder live here. Everything is plain synchronous code
with no I/O beyond reading files, so the venue simulator, the training environment, the
backtester and the live service all run the very same book and feature code.
"""
