"""Properties of every decision (hypothesis): a refund is never negative, never more than what
remains refundable, and never grows as the request comes later."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from worker.policy import add_months, decide_json, load_policy, used_months
from worker.policy.calendar import days_in_month

START = datetime(2020, 1, 1, tzinfo=UTC)
MITTRIK_DMLY_CLAUSES = {
    name: set(load_policy(name).clauses) for name in ("mittrik", "dmly")
}  # fmt: skip

moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)
delays = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=500))


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@st.composite
def invoice_lines(draw, paid_at: datetime, index: int) -> dict:
    interval = draw(st.sampled_from(["month", "year", None]))
    start = paid_at + draw(st.timedeltas(min_value=timedelta(days=-400), max_value=timedelta(1)))
    length = draw(st.sampled_from(["interval", "zero", "days"]) if interval else st.just("zero"))
    if length == "interval":
        end = add_months(start, 12 if interval == "year" else 1)
    elif length == "days":
        end = start + draw(st.timedeltas(min_value=timedelta(0), max_value=timedelta(400)))
    else:
        end = start
    return {
        "id": f"il_{index}",
        "category": draw(st.sampled_from(["plan", "addon", "usage", "pass_through"])),
        "amount": draw(st.integers(min_value=0, max_value=10_000_000)),
        "interval": interval,
        "period_start": iso(start),
        "period_end": iso(end),
        "consumed": draw(st.booleans()),
    }


@st.composite
def refund_requests(draw) -> tuple[dict, datetime]:
    """Facts JSON for a refund request, and the payment time (for placing later requests)."""
    paid_at = draw(moments)
    count = draw(st.integers(min_value=1, max_value=4))
    lines = [draw(invoice_lines(paid_at, i)) for i in range(count)]
    total = sum(line["amount"] for line in lines)
    amount_paid = draw(st.integers(min_value=0, max_value=total * 2 + 1))
    line_ids = draw(
        st.none() | st.lists(st.sampled_from([line["id"] for line in lines]), min_size=1)
    )
    facts = {
        "policy": draw(st.sampled_from(["mittrik", "dmly"])),
        "request": {
            "received_at": iso(paid_at + draw(delays)),
            "reason": draw(st.sampled_from(["requested_by_customer", "technical_issue"])),
            "line_ids": line_ids,
            "support_override": draw(st.booleans()),
        },
        "invoice": {
            "id": "in_1",
            "number": "N-1",
            "customer": "cus_1",
            "currency": draw(st.sampled_from(["usd", "jpy", "eur", "kwd"])),
            "billing_reason": draw(
                st.sampled_from(
                    ["subscription_create", "subscription_cycle", "subscription_update", "manual"]
                )
            ),  # fmt: skip
            "paid_at": iso(paid_at),
            "amount_paid": amount_paid,
            # Also more than was paid: the cap must still hold (nothing remains refundable).
            "amount_refunded": draw(st.integers(min_value=0, max_value=amount_paid + 100)),
            "disputed": draw(st.booleans()),
            "lines": lines,
        },
    }
    return facts, paid_at


def _refundable(facts: dict) -> int:
    return max(0, facts["invoice"]["amount_paid"] - facts["invoice"]["amount_refunded"])


@settings(max_examples=300, deadline=None)
@given(refund_requests())
def test_a_refund_is_never_negative_and_never_above_what_remains_refundable(drawn):
    facts, _ = drawn
    decision = decide_json(facts)
    assert 0 <= decision["amount"] <= _refundable(facts)
    by_id = {line["id"]: line for line in facts["invoice"]["lines"]}
    for line in decision["lines"]:
        assert 0 <= line["amount"] <= by_id[line["id"]]["amount"]
        if line["outcome"] == "deny":
            assert line["amount"] == 0
    assert decision["amount"] == sum(line["amount"] for line in decision["lines"])


@settings(max_examples=300, deadline=None)
@given(refund_requests(), delays, delays)
def test_a_refund_never_grows_as_the_request_comes_later(drawn, earlier, later_by):
    facts, paid_at = drawn
    amounts = []
    for delay in (earlier, earlier + later_by):
        facts["request"]["received_at"] = iso(paid_at + delay)
        amounts.append(decide_json(facts)["amount"])
    assert amounts[1] <= amounts[0]


@settings(max_examples=300, deadline=None)
@given(refund_requests())
def test_every_decision_follows_the_outcome_rule_and_speaks_in_one_sentence(drawn):
    facts, _ = drawn
    decision = decide_json(facts)
    outcomes = [line["outcome"] for line in decision["lines"]]
    if "review" in outcomes:
        assert decision["outcome"] == "review"
    elif any(ln["outcome"] == "approve" and ln["amount"] > 0 for ln in decision["lines"]):
        assert decision["outcome"] == "approve"
    else:
        assert decision["outcome"] == "deny"
    assert (decision["expected_credit"] is not None) == (decision["outcome"] == "approve")
    if decision["expected_credit"]:
        assert decision["expected_credit"]["from"] < decision["expected_credit"]["to"]
    known = MITTRIK_DMLY_CLAUSES[facts["policy"]]
    for line in decision["lines"]:
        assert line["clauses"] and set(line["clauses"]) <= known
        sentence = line["explanation"]
        assert sentence[0].isupper() and sentence.endswith(".")
        assert ". " not in sentence and "\n" not in sentence
    assert decision["clauses"] == list(
        dict.fromkeys(c for line in decision["lines"] for c in line["clauses"])
    )


@settings(max_examples=300, deadline=None)
@given(moments, st.integers(min_value=0, max_value=400))
def test_month_k_starts_on_the_anniversary_clamped_to_the_month_end(start, k):
    moment = add_months(start, k)
    months = (moment.year - start.year) * 12 + moment.month - start.month
    assert months == k
    assert moment.day == min(start.day, days_in_month(moment.year, moment.month))
    assert moment.time() == start.time()
    assert add_months(start, k + 1) > moment


@settings(max_examples=300, deadline=None)
@given(moments, st.integers(min_value=1, max_value=15))
def test_a_month_is_used_from_its_first_instant(start, k):
    month_start = add_months(start, k)
    assert used_months(start, month_start) == min(12, k + 1)
    assert used_months(start, month_start - timedelta(microseconds=1)) == min(12, k)
