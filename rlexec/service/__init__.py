"""The live process: configuration, wiring, parent-order management, algos, OMS, state store, HTTP API and metrics.

This is the composition root: it may import every other package.
"""
