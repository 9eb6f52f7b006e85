"""FIX 4.4 connectivity: the codec, the asyncio session layer and the order-entry and market-data clients.

The session layer serves both the initiator (the service) and the acceptor (the venue
simulator). It may import `market` and nothing else of ours.
"""
