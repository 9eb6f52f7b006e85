"""The pre-trade risk overlay: hard limits, checks and the kill switch, independent by construction.

It keeps its own position, P&L and rate state built from the fills it is fed and imports
nothing of ours but `market`, so that no bug above it — in a strategy, a model or the
gateway — can loosen a limit. A test enforces the import rule.
"""
