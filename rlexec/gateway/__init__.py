"""FIX 4.4 connectivity: the codec, the asyncio session layer and the order-entry and market-data clients.

The session layer serves both the initiator (the service) and the acceptor (the venue
simulator). It may import `market` and nothing else of ours.

Modules, one job each:

- `codec` (encode, frame, `FixFramer`) and `message` (`FixMessage`): the hand-written hot-path
  codec, proven byte-identical to simplefix; `tags` and `values`: tag numbers and price text.
- `session` (`FixSession`), `session_state` (the transition table), `config` (`SessionConfig`),
  `connection` (the asyncio Protocol), `acceptor` (`FixAcceptor`), `initiator` (`FixInitiator`),
  `application` (`Application`, the callbacks a session makes).
- `store` (the `SessionStore` port and `MemoryStore`), `store_file` (`FileStore`),
  `store_redis` (`RedisStore`).
- `order_client` (`OrderClient`) with `execution` (typed events); `md_client`
  (`MarketDataClient`); `probe` (`rlexec fix-probe`); `metrics` (Prometheus).
"""
