"""OrderGate: nothing half-sent survives a failed send, only an overlay Approval can go out,
and no code path outside the gateway but the gate calls `OrderClient.new_order` / `.replace`."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from rlexec.market.orders import OrderIntent, OrderType, Side, TimeInForce
from rlexec.risk import Approval
from rlexec.service.config import ServiceSettings
from rlexec.service.gate import SendError
from rlexec.service.oms import ChildOrder
from rlexec.service.runtime import Service

PACKAGE = Path(__file__).resolve().parent.parent / "rlexec"
GATE = Path("rlexec/service/gate.py")
MID = 580.0 * 10_000
NY_10AM_NS = int(datetime(2012, 6, 21, 14, 0, tzinfo=UTC).timestamp()) * 1_000_000_000


@pytest.fixture
def service() -> Service:
    """A service never started: its order session is not logged on (nothing listens on port 1)."""
    svc = Service(ServiceSettings(venue="127.0.0.1:1", clock="venue", symbols=("AAPL",)))
    svc.clock.observe(NY_10AM_NS)  # inside the overlay's trading window
    svc.overlay.on_market("AAPL", MID, svc.clock.now_ns())
    # no parent here has a reserved id block: these tests are about the send, so ids come
    # from the order client itself (the next test covers a parent without ids)
    svc.gate.next_id = lambda parent_id: svc.client.next_cl_ord_id()
    return svc


def test_an_order_without_a_reserved_clordid_is_not_sent_and_releases_its_approval() -> None:
    svc = Service(ServiceSettings(venue="127.0.0.1:1", clock="venue", symbols=("AAPL",)))
    svc.clock.observe(NY_10AM_NS)
    svc.overlay.on_market("AAPL", MID, svc.clock.now_ns())
    decision = svc.overlay.check(_intent(300), svc.clock.now_ns())
    assert isinstance(decision, Approval), decision
    with pytest.raises(SendError, match="no ClOrdID block reserved for parent P-test"):
        svc.gate.send(decision, "P-test")
    assert svc.oms.all() == [] and svc.overlay.working_orders == 0


def _intent(quantity: int = 100) -> OrderIntent:
    return OrderIntent("AAPL", Side.BUY, quantity, OrderType.LIMIT, int(MID) - 100,
                       TimeInForce.DAY, "P-test")  # fmt: skip


def test_send_without_logon_rolls_everything_back(service: Service) -> None:
    overlay = service.overlay
    assert not service.order_session.is_logged_on
    working_before = overlay.working_orders
    buy_before = overlay.position("AAPL").working_buy_qty
    decision = overlay.check(_intent(300), service.clock.now_ns())
    assert isinstance(decision, Approval), decision
    with pytest.raises(SendError, match="not sent") as raised:
        service.gate.send(decision, "P-test")
    cl = str(raised.value).split(":", 1)[0]  # "CL: not sent: why" names the id it took
    assert cl
    assert service.oms.get(cl) is None
    assert service.oms.working() == []
    assert cl not in service.gate.risk_ids
    assert service.gate.sent == 0
    assert overlay.working_orders == working_before
    assert overlay.position("AAPL").working_buy_qty == buy_before
    # and the overlay is not left holding anything: a fresh check is approved again
    again = overlay.check(_intent(400), service.clock.now_ns())  # 300 again is a duplicate
    assert isinstance(again, Approval)


def test_send_failure_counts_a_send_failure(service: Service) -> None:
    decision = service.overlay.check(_intent(), service.clock.now_ns())
    assert isinstance(decision, Approval)
    with pytest.raises(SendError):
        service.gate.send(decision)
    assert service.registry.get_sample_value("rlexec_service_send_failures_total") == 1


@pytest.mark.parametrize(
    "forged",
    [
        pytest.param(lambda: _intent(), id="an OrderIntent"),
        pytest.param(lambda: SimpleNamespace(intent=_intent()), id="a duck-typed approval"),
        pytest.param(lambda: None, id="None"),
    ],
)
def test_send_refuses_anything_but_an_approval(service: Service, forged: object) -> None:
    thing = forged() if callable(forged) else forged
    with pytest.raises(SendError, match="only an Approval"):
        service.gate.send(thing)  # type: ignore[arg-type]
    assert service.oms.working() == []
    assert service.overlay.working_orders == 0


def test_send_refuses_a_forged_approval_instance(service: Service) -> None:
    """An `Approval` made with `object.__new__` passes the type check; it must still be
    refused with a SendError (not a traceback) and leave nothing recorded."""
    forged = object.__new__(Approval)
    with pytest.raises(SendError):
        service.gate.send(forged)
    assert service.oms.working() == []
    assert service.overlay.working_orders == 0


def test_replace_refuses_an_intent(service: Service) -> None:
    now = service.clock.now_ns()
    child = ChildOrder("C1", "C1", "P-test", "AAPL", Side.BUY, 100, int(MID) - 100,
                       TimeInForce.DAY, OrderType.LIMIT, now, now)  # fmt: skip
    with pytest.raises(SendError, match="only an Approval"):
        service.gate.replace(_intent(), child)  # type: ignore[arg-type]
    assert service.gate.pending_replaces == {}


# -- the call walk ---------------------------------------------------------------------------


def _receiver_name(node: ast.expr) -> str:
    """The dotted text of a call's receiver: `self.client` for `self.client.replace(...)`."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_receiver_name(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return _receiver_name(node.func) + "()"
    return type(node).__name__


def order_client_calls(source: str) -> Iterator[tuple[int, str]]:
    """Calls that may reach `OrderClient.new_order` / `OrderClient.replace`.

    The rule: every attribute call named `new_order` is flagged (nothing else has that
    name); an attribute call named `replace` is flagged only when its receiver's dotted
    name contains "client" (case-insensitive), so `str.replace`, `dataclasses.replace`,
    `path.replace` are not. A `getattr(x, "new_order")` is flagged too.
    """
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute):
            receiver = _receiver_name(func.value)
            if func.attr == "new_order" or (
                func.attr == "replace" and "client" in receiver.lower()
            ):
                yield node.lineno, f"{receiver}.{func.attr}"
        elif isinstance(func, ast.Name) and func.id == "getattr" and len(node.args) >= 2:
            name = node.args[1]
            if isinstance(name, ast.Constant) and name.value in ("new_order", "replace"):
                yield node.lineno, f"getattr(..., {name.value!r})"


def test_checker_flags_what_it_must() -> None:
    snippet = (
        "class P:\n"
        "    def go(self, intent):\n"
        "        self.client.new_order(intent, 'X1')\n"
        "        self.gate.client.replace('X1', 200, 5800000, request_id='X2')\n"
        "        order_client.replace('X1', 100, None)\n"
        "        getattr(self.client, 'new_order')(intent)\n"
        "        text = 'a-b'.replace('-', '')\n"
        "        path = self.path.replace(other)\n"
        "        item = dataclasses.replace(item, x=1)\n"
    )
    found = list(order_client_calls(snippet))
    assert found == [
        (3, "self.client.new_order"),
        (4, "self.gate.client.replace"),
        (5, "order_client.replace"),
        (6, "getattr(..., 'new_order')"),
    ]


def test_only_the_gate_sends_new_orders_and_replaces() -> None:
    offenders: list[str] = []
    gate_calls: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent)
        if rel.parts[:2] == ("rlexec", "gateway"):
            continue
        for line, call in order_client_calls(path.read_text(encoding="utf-8")):
            where = f"{rel}:{line}: {call}"
            (gate_calls if rel == GATE else offenders).append(where)
    assert offenders == [], "only rlexec/service/gate.py may call OrderClient.new_order/replace"
    # the walk really sees the gate's two calls (a checker that finds nothing proves nothing)
    assert [c.rsplit(": ", 1)[1] for c in gate_calls] == [
        "self.client.new_order",
        "self.client.replace",
    ]


def test_walk_would_catch_a_new_caller_in_parents() -> None:
    source = (PACKAGE / "service" / "parents.py").read_text(encoding="utf-8")
    tampered = source + "\n\ndef sneak(self, intent):\n    self.client.new_order(intent, 'X')\n"
    assert list(order_client_calls(source)) == []
    assert [c for _, c in order_client_calls(tampered)] == ["self.client.new_order"]


def test_a_clordid_already_in_use_is_not_sent_and_releases_its_approval(service: Service) -> None:
    overlay = service.overlay
    taken = service.client.next_cl_ord_id()
    service.oms.record_new(taken, _intent(100), "P-test", service.clock.now_ns())
    service.gate.next_id = lambda parent_id: taken  # a counter gone wrong hands it out again
    decision = overlay.check(_intent(300), service.clock.now_ns())
    assert isinstance(decision, Approval), decision
    working = overlay.working_orders
    with pytest.raises(SendError, match=f"{taken}: not recorded: .*already in use"):
        service.gate.send(decision, "P-test")
    assert overlay.working_orders == working - 1, "the approval's reservation is released"
    assert [c.cl_ord_id for c in service.oms.all()] == [taken] and service.gate.sent == 0
