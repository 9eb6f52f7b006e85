"""The HTTP control API against a live Service trading with `rlexec venue` in a subprocess:
real sockets, real FIX, the venue's own counters as the independent record of cancels."""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rlexec.risk import IllegalTransitionError
from rlexec.risk.killswitch import KillState, KillSwitch, MemoryKillSwitchStore, snapshot_from_json
from rlexec.service.oms import ChildState
from rlexec.service.parents import ParentState
from tests.api_support import TOKENS, WRONG_TOKEN, LiveService, live_service
from tests.service_support import Venue, settings, start_venue

pytestmark = pytest.mark.slow

CANCELS = "rlexec_venue_cancels_total"
PARENT = {"symbol": "AAPL", "side": "buy", "quantity": 20_000, "horizon_s": 600.0,
          "algo": "twap"}  # fmt: skip
ANYONE = ("viewer", "trader", "risk")


@pytest.fixture(scope="module")
def venue(aapl_message: Path) -> Iterator[Venue]:
    yield from start_venue(aapl_message)


@pytest.fixture
def live(venue: Venue) -> Iterator[LiveService]:
    yield from live_service(settings(venue, decision_interval_s=300.0))


def wait_until(what: str, cond: Callable[[], bool], within: float = 40.0) -> None:
    deadline = time.monotonic() + within
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def working_parent(live: LiveService, **kw: Any) -> str:
    answer = live.request("POST", "/v1/parents", PARENT | kw, role="trader")
    assert answer.status == 201, answer.body
    pid: str = answer.json()["id"]
    parents = live.service.parents.parents
    wait_until("the parent to work", lambda: live.run(lambda: parents[pid].state)
               is ParentState.WORKING)  # fmt: skip
    return pid


# -- the auth matrix ---------------------------------------------------------------------------


def test_auth_matrix_each_role_on_each_endpoint(live: LiveService) -> None:
    """Every endpoint with no token, a wrong token and each role: 401 / 403 / 2xx exactly as
    documented, the refusals leaving no trace. Steps run in an order where the allowed calls
    are legal (pause before resume, kill before resume)."""
    submitted = live.request("POST", "/v1/parents", PARENT | {"client_id": "m"}, role="trader")
    pid = submitted.json()["id"]
    wait_until("the parent to work", lambda: live.run(
        lambda: live.service.parents.parents[pid].state) is ParentState.WORKING)  # fmt: skip
    steps: list[tuple[str, str, dict[str, Any] | None, tuple[str, ...]]] = [
        ("GET", "/v1/parents", None, ANYONE),
        ("POST", "/v1/parents", PARENT | {"client_id": "m"}, ("trader",)),
        ("GET", f"/v1/parents/{pid}", None, ANYONE),
        ("GET", "/v1/risk", None, ANYONE),
        ("POST", f"/v1/parents/{pid}/pause", None, ("trader",)),
        ("POST", f"/v1/parents/{pid}/resume", None, ("trader",)),
        ("POST", f"/v1/parents/{pid}/cancel", None, ("trader",)),
        ("POST", "/v1/kill/reduce", {"why": "matrix"}, ("trader", "risk")),
        ("POST", "/v1/kill", {"why": "matrix"}, ("trader", "risk")),
        ("POST", "/v1/resume", {"who": "ann", "why": "matrix"}, ("risk",)),
        ("POST", "/v1/risk/limits", {"why": "m", "changes": {"max_working_orders": 150}},
         ("risk",)),
    ]  # fmt: skip
    seen: set[tuple[str, str]] = set()
    for method, path, body, allowed in steps:
        seen.add((method, path.replace(pid, "{id}")))
        state = live.run(lambda: live.service.overlay.state)
        for token in (None, WRONG_TOKEN):
            answer = live.request(method, path, body, token=token)
            assert answer.status == 401, (method, path, token, answer.body)
            assert answer.headers["WWW-Authenticate"].startswith("Bearer")
            assert answer.json()["field"] == "Authorization"
        for role in ANYONE:
            if role not in allowed:
                answer = live.request(method, path, body, role=role)
                assert answer.status == 403, (method, path, role, answer.body)
                assert role in answer.json()["error"]
        # the refusals changed nothing
        assert live.run(lambda: live.service.overlay.state) is state
        for role in allowed:
            answer = live.request(method, path, body, role=role)
            assert 200 <= answer.status < 300, (method, path, role, answer.body)
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"):
        seen.add(("GET", path))
        for token in (None, WRONG_TOKEN):
            assert live.request("GET", path, token=token).status in (200, 503), path
    documented = live.request("GET", "/openapi.json").json()
    routes = {(m.upper(), p) for p, ops in documented["paths"].items() for m in ops}
    assert routes == seen, "the matrix must cover every documented endpoint"
    roles = {(m.upper(), p): set(op.get("x-roles", [])) for p, ops in documented["paths"].items()
             for m, op in ops.items()}  # fmt: skip
    for method, path, _, allowed in steps:
        assert roles[(method, path.replace(pid, "{id}"))] == set(allowed), path


def test_a_token_in_another_scheme_or_with_a_suffix_is_not_accepted(live: LiveService) -> None:
    for header in (f"Basic {TOKENS['risk']}", f"Bearer {TOKENS['risk']}x", "Bearer", "Bearer  "):
        request = urllib.request.Request(live.url + "/v1/risk", headers={"Authorization": header})
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=10)
        assert caught.value.code == 401, header


# -- parents -----------------------------------------------------------------------------------


def test_submit_is_idempotent_by_client_id(live: LiveService) -> None:
    body = PARENT | {"quantity": 500, "client_id": "order-42"}
    first = live.request("POST", "/v1/parents", body, role="trader")
    again = live.request("POST", "/v1/parents", body, role="trader")  # a retry
    assert first.status == 201 and again.status == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["quantity"] == 500
    other = live.request("POST", "/v1/parents", body | {"quantity": 900}, role="trader")
    assert (other.status, other.json()["field"]) == (409, "client_id")  # not the first's twin
    assert first.json()["id"] in other.json()["error"]
    listed = live.request("GET", "/v1/parents", role="viewer").json()["parents"]
    assert [p["id"] for p in listed] == [first.json()["id"]]
    shown = live.request("GET", f"/v1/parents/{first.json()['id']}", role="viewer").json()
    for key in ("id", "state", "quantity", "filled", "avg_price", "is_bps", "children"):
        assert key in shown


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/parents", {k: v for k, v in PARENT.items() if k != "symbol"}, "symbol"),
        ("/v1/parents", PARENT | {"quantity": -5}, "quantity"),
        ("/v1/parents", PARENT | {"quantity": True}, "quantity"),
        ("/v1/parents", PARENT | {"side": "hold"}, "side"),
        ("/v1/parents", PARENT | {"symbol": 5}, "symbol"),
        ("/v1/parents", PARENT | {"symbol": "MSFT"}, "symbol"),
        ("/v1/parents", PARENT | {"max_participation": 1.5}, "max_participation"),
        ("/v1/parents", PARENT | {"horizon_s": 1e10}, "horizon_s"),
        ("/v1/parents", PARENT | {"horizon_s": 1e-300}, "horizon_s"),
        ("/v1/parents", PARENT | {"limit_price": 1e305}, "limit_price"),
        ("/v1/parents", PARENT | {"limit_price": 1e-12}, "limit_price"),
        ("/v1/parents", PARENT | {"quantity": 10**30}, "quantity"),
        ("/v1/parents", PARENT | {"client_id": "two\nlines"}, "client_id"),
        ("/v1/parents", PARENT | {"client_id": "x" * 65}, "client_id"),
        ("/v1/parents", PARENT | {"algo": "moon"}, "algo"),
        ("/v1/parents", PARENT | {"colour": "red"}, "colour"),
        ("/v1/kill", {}, "why"),
        ("/v1/kill", {"why": "   "}, "why"),
        ("/v1/kill", {"why": "two\nlines"}, "why"),
        ("/v1/risk/limits", {"why": "x", "changes": {"no_such_limit": 1}}, "no_such_limit"),
        ("/v1/risk/limits", {"why": "x", "changes": {"symbols": {}}}, "changes.symbols"),
        ("/v1/risk/limits", {"why": "x", "changes": {"who": "x"}}, "changes.who"),
    ],
)
def test_validation_errors_are_422_naming_the_field(
    live: LiveService, path: str, body: dict[str, Any], field: str
) -> None:
    role = "risk" if path == "/v1/risk/limits" else "trader"
    answer = live.request("POST", path, body, role=role)
    assert answer.status == 422, answer.body
    error = answer.json()
    assert error["field"] == field, error
    assert "Traceback" not in error["error"] and "pattern" not in error["error"]
    assert live.run(lambda: len(live.service.parents.parents)) == 0


def test_resume_needs_who_and_a_known_target(live: LiveService) -> None:
    assert live.request("POST", "/v1/kill", {"why": "test"}, role="risk").status == 200
    missing = live.request("POST", "/v1/resume", {"why": "ok"}, role="risk")
    assert (missing.status, missing.json()["field"]) == (422, "who")
    bad = live.request("POST", "/v1/resume", {"who": "a", "why": "b", "to": "HALTED"}, role="risk")
    assert (bad.status, bad.json()["field"]) == (422, "to")
    assert live.run(lambda: live.service.overlay.state.value) == "HALTED"


def test_no_parent_is_taken_while_halted(live: LiveService) -> None:
    assert live.request("POST", "/v1/kill", {"why": "test"}, role="risk").status == 200
    refused = live.request("POST", "/v1/parents", PARENT, role="trader")
    assert refused.status == 409 and "HALTED" in refused.json()["error"]
    assert live.run(lambda: len(live.service.parents.parents)) == 0
    resume = {"who": "bob", "why": "checked", "to": "ACTIVE"}
    assert live.request("POST", "/v1/resume", resume, role="risk").status == 200
    assert live.request("POST", "/v1/parents", PARENT, role="trader").status == 201


@pytest.mark.parametrize(
    ("raw", "status"),
    [(b"{not json", 400), (b"", 400), (b'{"why": NaN}', 400), (b"[1, 2]", 422),
     (b'"buy 100 AAPL 60s"', 422), (b"\xff\xfe", 400), (b"[" * 5000 + b"]" * 5000, 400)],
)  # fmt: skip
def test_malformed_bodies_are_4xx_naming_the_body(
    live: LiveService, raw: bytes, status: int
) -> None:
    answer = live.request("POST", "/v1/parents", raw=raw, role="trader")
    assert answer.status == status, answer.body
    assert answer.json()["field"] == "body"


def test_a_body_over_the_cap_is_413(live: LiveService) -> None:
    big = PARENT | {"client_id": "x" * (65 * 1024)}
    answer = live.request("POST", "/v1/parents", big, role="trader")
    assert answer.status == 413
    assert answer.json()["field"] == "body"
    # an unauthenticated sender is turned away before its body is read
    assert live.request("POST", "/v1/parents", big).status == 401
    assert live.run(lambda: len(live.service.parents.parents)) == 0


def test_unknown_parent_is_404_and_an_illegal_transition_409(live: LiveService) -> None:
    for method, path in (("GET", "/v1/parents/P-nope"), ("POST", "/v1/parents/P-nope/cancel")):
        answer = live.request(method, path, role="trader")
        assert (answer.status, answer.json()["field"]) == (404, "id"), path
        assert "P-nope" in answer.json()["error"]
    pid = live.request("POST", "/v1/parents", PARENT | {"quantity": 100}, role="trader")
    pid_text = pid.json()["id"]
    assert live.request("POST", f"/v1/parents/{pid_text}/cancel", role="trader").status == 200
    paused = live.request("POST", f"/v1/parents/{pid_text}/pause", role="trader")
    assert paused.status == 409
    assert "cancelled" in paused.json()["error"].lower()
    wrong_route = live.request("GET", "/v2/nothing", role="viewer")
    assert wrong_route.status == 404 and wrong_route.json()["field"] is None


def test_a_loosening_is_409_naming_the_key(live: LiveService) -> None:
    body = {"why": "try", "changes": {"max_working_orders": 10_000}}
    answer = live.request("POST", "/v1/risk/limits", body, role="risk")
    assert answer.status == 409
    assert answer.json()["field"] == "max_working_orders"
    tighter = {"why": "calm", "symbols": {"AAPL": {"max_order_qty": 5_000}}}
    answer = live.request("POST", "/v1/risk/limits", tighter, role="risk")
    assert answer.status == 200, answer.body
    assert answer.json()["limits"]["symbols"]["AAPL"]["max_order_qty"] == 5_000
    assert live.run(lambda: live.service.overlay.limits.symbols["AAPL"].max_order_qty) == 5_000


# -- the kill switch ---------------------------------------------------------------------------


def test_kill_cancels_every_working_child_at_the_venue(live: LiveService, venue: Venue) -> None:
    first = working_parent(live)
    second = working_parent(live, quantity=15_000)
    oms = live.service.oms
    wait_until("both parents' children to rest", lambda: len(live.run(oms.working)) >= 2)
    before = venue.sample(CANCELS, client="CLIENT", cause="request")
    working = live.run(lambda: [c.cl_ord_id for c in oms.working()])
    answer = live.request("POST", "/v1/kill", {"why": "test"}, role="trader")
    assert answer.status == 200, answer.body
    kill = answer.json()
    assert kill["state"] == "HALTED"
    assert kill["parents_cancelled"] == 2
    assert kill["cancels_sent"] == len(working)
    wait_until("the venue to confirm every cancel", lambda: not live.run(oms.working))
    states = live.run(lambda: {c.cl_ord_id: c.state for c in oms.all()})
    cancelled = [i for i in working if states[i] is ChildState.CANCELED]
    wait_until("the venue's counter", lambda: venue.sample(
        CANCELS, client="CLIENT", cause="request") - before >= len(cancelled))  # fmt: skip
    # every cancel that went out was carried out by the venue (or the child had just filled)
    assert venue.sample(CANCELS, client="CLIENT", cause="request") - before == len(cancelled)
    assert all(states[i] in (ChildState.CANCELED, ChildState.FILLED) for i in working)
    for pid in (first, second):
        shown = live.request("GET", f"/v1/parents/{pid}", role="viewer").json()
        assert shown["state"] == "cancelled"
    risk = live.request("GET", "/v1/risk", role="viewer").json()
    assert risk["state"] == "HALTED" and risk["working_orders"] == 0
    assert risk["history"][-1]["who"] == "trader"  # who defaults to the token's role


def test_a_kill_the_store_refuses_still_cancels_says_so_and_is_saved_once_it_can_be(
    live: LiveService,
) -> None:
    """The store is down as the kill comes: HALTED takes effect and every cancel goes out;
    the answer, /readyz and the gauge say it is not saved; a second press is no false
    success; once the store is back the timer saves HALTED, which a restart then loads."""
    first = working_parent(live)
    oms = live.service.oms
    wait_until("its children to rest", lambda: len(live.run(oms.working)) >= 1)
    working = live.run(lambda: len(oms.working()))
    backend = live.service.store.backend  # type: ignore[attr-defined]
    live.run(lambda: setattr(backend, "available", False))
    try:
        answer = live.request("POST", "/v1/kill", {"why": "store down"}, role="risk")
        assert answer.status == 200, answer.body
        kill = answer.json()
        assert kill["state"] == "HALTED" and kill["persisted"] is False
        assert kill["parents_cancelled"] == 1 and kill["cancels_sent"] == working
        again = live.request("POST", "/v1/kill", {"why": "again"}, role="risk").json()
        assert again["persisted"] is False
        # an unsaved switch still refuses a command it would refuse anyway (here: no why)
        with pytest.raises(IllegalTransitionError, match="needs why"):
            live.run(lambda: live.service.control.kill("risk", " "))
        ready = live.request("GET", "/readyz")
        assert ready.status == 503
        assert ready.json()["checks"]["kill_switch_saved"] == {
            "ok": False, "detail": "not kill switch HALTED saved"}  # fmt: skip
        metrics = live.request("GET", "/metrics").body.decode()
        assert "rlexec_risk_kill_switch_persisted 0.0" in metrics
        assert backend.data.kill is None or snapshot_from_json(backend.data.kill).state is not (
            KillState.HALTED
        )
        refused = live.request("POST", "/v1/resume", {"who": "ann", "why": "x"}, role="risk")
        assert refused.status == 503 and "nothing changed" in refused.json()["error"]
    finally:
        live.run(lambda: setattr(backend, "available", True))
    wait_until("the timer to save HALTED", lambda: live.run(
        lambda: live.service.overlay.kill_persisted))  # fmt: skip
    assert snapshot_from_json(backend.data.kill).state is KillState.HALTED
    assert KillSwitch(MemoryKillSwitchStore(backend.data.kill), clock=time.time_ns).state is (
        KillState.HALTED
    ), "a restart comes back HALTED"
    metrics = live.request("GET", "/metrics").body.decode()
    assert "rlexec_risk_kill_switch_persisted 1.0" in metrics
    assert live.request("GET", f"/v1/parents/{first}", role="viewer").json()["state"] == (
        "cancelled"
    )


def test_refusals_are_logged_and_every_answer_counted_by_route(
    live: LiveService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rlexec.service")
    assert live.request("GET", "/v1/risk", token=WRONG_TOKEN).status == 401
    assert live.request("GET", "/v1/parents/P-x", role="viewer").status == 404
    assert live.request("POST", "/v1/kill", {"why": "x"}, role="viewer").status == 403
    lines = [r.getMessage() for r in caplog.records if "event=api_refused" in r.getMessage()]
    assert any("method=GET path=/v1/risk role=- status=401 remote=127.0.0.1" in m for m in lines)
    assert any("method=POST path=/v1/kill role=viewer status=403" in m for m in lines)
    sample = live.service.registry.get_sample_value
    name = "rlexec_service_api_requests_total"
    assert sample(name, {"method": "GET", "route": "/v1/risk", "status": "401"}) == 1
    assert sample(name, {"method": "GET", "route": "/v1/parents/{id}", "status": "404"}) == 1
    assert sample(name, {"method": "POST", "route": "/v1/kill", "status": "403"}) == 1


def test_a_limit_change_is_logged_counted_and_cannot_set_its_own_time(
    live: LiveService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rlexec.service")
    body = {"why": "x", "changes": {"now_ns": 1}}
    answer = live.request("POST", "/v1/risk/limits", body, role="risk")
    assert answer.status == 422 and answer.json()["field"] == "changes.now_ns", answer.body
    body = {"who": "ann", "why": "calm", "changes": {"max_working_orders": 150}}
    assert live.request("POST", "/v1/risk/limits", body, role="risk").status == 200
    assert live.service.registry.get_sample_value("rlexec_service_limit_changes_total") == 1
    logged = [r.getMessage() for r in caplog.records if "event=limits_tightened" in r.getMessage()]
    assert logged == ["event=limits_tightened who='ann (risk token)' why='calm' "
                      "changes={'max_working_orders': 150} symbols=None"]  # fmt: skip


def test_only_risk_resumes(live: LiveService) -> None:
    assert live.request("POST", "/v1/kill", {"who": "bob", "why": "t"}, role="trader").status == 200
    body = {"who": "bob", "why": "all clear"}
    assert live.request("POST", "/v1/resume", body, role="trader").status == 403
    assert live.request("POST", "/v1/resume", body, role="viewer").status == 403
    assert live.run(lambda: live.service.overlay.state.value) == "HALTED"
    answer = live.request("POST", "/v1/resume", body | {"to": "REDUCING"}, role="risk")
    assert answer.status == 200 and answer.json()["state"] == "REDUCING"
    answer = live.request("POST", "/v1/resume", body, role="risk")
    assert answer.status == 200 and answer.json()["state"] == "ACTIVE"
    # the name is what the caller says; the role is what its token proves: both are kept
    assert answer.json()["history"][-1]["who"] == "bob (risk token)"
    again = live.request("POST", "/v1/resume", body, role="risk")
    assert again.status == 409  # nothing to lift


# -- health, metrics, documentation ------------------------------------------------------------


def test_health_and_readiness_name_each_check(live: LiveService) -> None:
    assert live.request("GET", "/healthz").json() == {"status": "ok"}
    wait_until("market data", lambda: live.request("GET", "/readyz").status == 200)
    ready = live.request("GET", "/readyz").json()
    assert ready["ready"] is True
    assert {"fix_orders", "fix_market_data", "market_data_AAPL", "store", "model"} <= set(
        ready["checks"]
    )


def test_metrics_families_have_the_right_types(live: LiveService) -> None:
    working_parent(live, quantity=1_000)
    answer = live.request("GET", "/metrics")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/plain")
    types = {}
    for line in answer.body.decode().splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            types[name.removesuffix("_total") if kind == "counter" else name] = kind
    expected = {
        "rlexec_service_child_orders": "counter",
        "rlexec_service_tick_to_order_seconds": "histogram",
        "rlexec_service_policy_inference_seconds": "histogram",
        "rlexec_service_parents": "gauge",
        "rlexec_service_decisions": "counter",
        "rlexec_service_policy_fallbacks": "counter",
        "rlexec_service_fills": "counter",
        "rlexec_service_rejects": "counter",
        "rlexec_service_filled_shares": "counter",
        "rlexec_service_shortfall_bps": "gauge",
        "rlexec_service_kill_switch_transitions": "counter",
        "rlexec_service_market_data_age_seconds": "gauge",
        "rlexec_service_market_data_stale": "gauge",
        "rlexec_service_state_store_queue_depth": "gauge",
        "rlexec_service_state_store_errors": "counter",
        "rlexec_service_model_info": "gauge",
        "rlexec_service_policy_compiled": "gauge",
        "rlexec_service_feature_drift_ratio": "gauge",
        "rlexec_fix_messages": "counter",
        "rlexec_fix_logged_on": "gauge",
        "rlexec_risk_checks": "counter",
        "rlexec_risk_state": "gauge",
    }
    for name, kind in expected.items():
        assert types.get(name) == kind, (name, types.get(name))
    body = answer.body.decode()
    assert 'rlexec_service_parents{state="working"} 1.0' in body
    assert 'rlexec_service_model_info{name="rlexec-ppo-aapl.onnx"' in body
    assert "rlexec_service_policy_compiled 1.0" in body  # the shipped model runs compiled
    assert "order_id" not in body and "cl_ord_id" not in body  # no order ids in labels


def test_openapi_document_and_docs_page(live: LiveService) -> None:
    doc = live.request("GET", "/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    spec = doc["components"]["schemas"]["ParentSpec"]
    assert set(spec["required"]) == {"symbol", "side", "quantity", "horizon_s"}
    assert spec["properties"]["side"]["enum"] == ["buy", "sell"]
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert doc["paths"]["/healthz"]["get"]["security"] == []
    assert "cancels_sent" in doc["components"]["schemas"]["KillView"]["properties"]
    page = live.request("GET", "/docs")
    assert page.headers["Content-Type"].startswith("text/html")
    text = page.body.decode()
    for path in doc["paths"]:
        assert path in text
    assert "<script" not in text  # nothing to fetch from a CDN
