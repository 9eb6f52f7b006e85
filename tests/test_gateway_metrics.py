"""Prometheus metrics of a real session exchange, read back from the registry."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, generate_latest

from rlexec.gateway.acceptor import FixAcceptor
from rlexec.gateway.config import Role, SessionConfig
from rlexec.gateway.metrics import GatewayMetrics
from rlexec.gateway.session import FixSession
from rlexec.gateway.store import MemoryStore
from tests.gateway.peer import FixPeer, Recorder


async def test_session_metrics_follow_the_exchange() -> None:
    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry)
    app = Recorder()
    session = FixSession(
        SessionConfig("VENUE", "CLIENT", Role.ACCEPTOR), MemoryStore(), app, metrics
    )
    acceptor = FixAcceptor([session])
    await acceptor.start()
    name = session.name
    value = registry.get_sample_value
    try:
        peer = await FixPeer.connect(acceptor.port)
        await peer.logon()
        assert value("rlexec_fix_logged_on", {"session": name}) == 1
        await peer.send("D", [(11, "a"), (55, "X")])
        await app.next()
        await peer.send("D", [(11, "b")], seq=5)  # gap: ResendRequest out
        await peer.expect("2")
        await peer.send("4", [(123, "Y"), (36, 5)], seq=3, poss_dup=True)  # gap fill in
        await app.next()
        peer.seq = 6
        await peer.send("D", [(11, "c"), (11, "d")])  # repeated tag: Reject out
        await peer.expect("3")
        await peer.send("2", [(7, 1), (16, 0)])  # ResendRequest in: gap fill out
        await peer.expect("4")
        await peer.send("5")
        await peer.expect("5")
        await peer.close()
        async with asyncio.timeout(3):
            await session.wait_disconnected()

        def messages(direction: str, msg_type: str) -> float | None:
            labels = {"session": name, "direction": direction, "msg_type": msg_type}
            return value("rlexec_fix_messages_total", labels)

        assert messages("in", "D") == 3
        assert messages("in", "A") == 1 and messages("out", "A") == 1
        assert messages("out", "2") == 1 and messages("out", "3") == 1
        assert messages("in", "4") == 1 and messages("out", "4") == 1
        for metric, direction in [
            ("rlexec_fix_resend_requests_total", "out"),
            ("rlexec_fix_resend_requests_total", "in"),
            ("rlexec_fix_gap_fills_total", "in"),
            ("rlexec_fix_gap_fills_total", "out"),
            ("rlexec_fix_session_rejects_total", "out"),
        ]:
            assert value(metric, {"session": name, "direction": direction}) == 1, metric
        assert value("rlexec_fix_disconnects_total", {"session": name, "reason": "logout"}) == 1
        assert value("rlexec_fix_logged_on", {"session": name}) == 0
        assert value("rlexec_fix_next_target_seq", {"session": name}) == 9
        assert value("rlexec_fix_next_sender_seq", {"session": name}) == session.next_sender_seq
        text = generate_latest(registry).decode()
        assert "ord" not in text.replace("order", ""), "no order ids in labels"
        assert "rlexec_fix_garbled_messages_total" in text
    finally:
        await acceptor.stop(grace=0.5)


def test_many_sessions_can_share_or_not_share_a_registry() -> None:
    registry = CollectorRegistry()
    shared = GatewayMetrics(registry)
    first = shared.for_session("FIX.4.4:A->B")
    second = shared.for_session("FIX.4.4:A->C")
    first.count_in(b"D")
    second.count_in(b"D")
    second.count_in(b"D")
    assert shared.for_session("FIX.4.4:A->B") is first
    get = registry.get_sample_value
    assert (
        get(
            "rlexec_fix_messages_total",
            {"session": "FIX.4.4:A->C", "direction": "in", "msg_type": "D"},
        )
        == 2
    )
    # A private registry per GatewayMetrics: no duplicate-registration errors.
    for _ in range(3):
        GatewayMetrics().for_session("FIX.4.4:A->B").count_out(b"8")


def test_garbage_msg_types_cannot_explode_label_cardinality() -> None:
    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry).for_session("S")
    for i in range(500):
        metrics.count_in(b"Z%d" % i)
    metrics.count_in(b"\xff")
    samples = [
        s
        for m in registry.collect()
        if m.name == "rlexec_fix_messages"
        for s in m.samples
        if s.name.endswith("_total") and s.labels["direction"] == "in"
    ]
    assert len(samples) <= 70
    assert sum(s.value for s in samples) == 501
