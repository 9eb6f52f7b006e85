"""The venue: a price-time matching engine that replays LOBSTER order flow with our orders in it.

One engine serves the FIX venue process, the RL training environment and the backtester,
so fills are equally (un)kind everywhere. May import `market` and `gateway`.
"""
