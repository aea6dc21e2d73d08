"""The engine: facts and a policy in, a decision out. Pure: no clock, no I/O, no frameworks."""

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from worker.policy import dmly, mittrik
from worker.policy.calendar import business_day_after
from worker.policy.decision import CreditWindow, Decision, LineDecision, Outcome
from worker.policy.facts import Facts, InvalidFacts, InvoiceLine, parse_facts
from worker.policy.line_rules import LineContext, deny
from worker.policy.loader import UnknownPolicy, load_policy
from worker.policy.money import format_money
from worker.policy.parameters import MittrikParameters, Policy


def decide(facts: Facts, policy: Policy) -> Decision:
    """The policy's decision on a refund request (`facts.policy` is not consulted: `policy` is)."""
    lines = tuple(decide_line(facts, line, policy) for line in facts.requested_lines())
    lines = cap_to_refundable(lines, facts.invoice.refundable_remainder, facts.invoice.currency)
    outcome = overall_outcome(lines)
    requested_on = facts.request.received_at.date()  # received_at is UTC
    return Decision(
        outcome=outcome,
        amount=sum(line.amount for line in lines if line.outcome != "deny"),
        currency=facts.invoice.currency,
        policy=policy.name,
        policy_version=policy.version,  # M7.version
        clauses=_in_order_of_first_appearance(clause for line in lines for clause in line.clauses),
        lines=lines,
        expected_credit=credit_window(requested_on, policy) if outcome == "approve" else None,
    )


def decide_line(facts: Facts, line: InvoiceLine, policy: Policy) -> LineDecision:
    ctx = LineContext(line, facts.request, facts.invoice)
    if facts.invoice.disputed:  # M6.dispute, D6.dispute: before anything else, in both policies
        return deny(
            ctx,
            [policy.rulebook.dispute],
            "This payment is under a chargeback dispute with the bank, so it cannot be refunded.",
        )
    rules = policy.parameters
    if isinstance(rules, MittrikParameters):
        return mittrik.decide_line(ctx, rules)
    return dmly.decide_line(ctx, rules)


def cap_to_refundable(
    lines: tuple[LineDecision, ...], refundable: int, currency: str
) -> tuple[LineDecision, ...]:
    """Never more than `amount_paid - amount_refunded`: cut the excess, last line first.

    Proposed review amounts count too: a reviewer must not be offered more than can be refunded.
    """
    excess = sum(line.amount for line in lines if line.outcome != "deny") - refundable
    capped = list(lines)
    for index in reversed(range(len(capped))):
        line = capped[index]
        if excess <= 0:
            break
        if line.outcome == "deny" or line.amount == 0:
            continue
        cut = min(line.amount, excess)
        excess -= cut
        capped[index] = line.with_amount(
            line.amount - cut, _capped_sentence(line, line.amount - cut, currency)
        )
    return tuple(capped)


def _capped_sentence(line: LineDecision, amount: int, currency: str) -> str:
    sentence = line.explanation.rstrip(".")
    if amount == 0:
        return f"{sentence}, but nothing more of this payment remains refundable."
    return (
        f"{sentence}, but only {format_money(amount, currency)} of this payment remains refundable."
    )


def overall_outcome(lines: Iterable[LineDecision]) -> Outcome:
    """`review` if any line is, else `approve` if any approved line refunds something, else deny."""
    lines = tuple(lines)
    if any(line.outcome == "review" for line in lines):
        return "review"
    if any(line.outcome == "approve" and line.amount > 0 for line in lines):
        return "approve"
    return "deny"


def credit_window(counted_from: date, policy: Policy) -> CreditWindow:
    """M5.request, D5.request: the N-th business days after a UTC date (the request's, when the
    policy approves it; the approval's, when a reviewer does)."""
    first, last = policy.credit_business_days
    return CreditWindow(
        business_day_after(counted_from, first), business_day_after(counted_from, last)
    )


def _in_order_of_first_appearance(clauses: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(clauses))


def decide_json(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The contract end to end: facts JSON (decoded) in, decision JSON (as a dict) out.

    Raises `InvalidFacts` (field + problem) for facts that break the contract, including a
    `policy` that names no policy; `PolicyFileError` when the named policy file is itself broken.
    """
    facts = parse_facts(raw)
    try:
        policy = load_policy(facts.policy)
    except UnknownPolicy as unknown:
        raise InvalidFacts("policy", str(unknown)) from None
    return decide(facts, policy).to_json()
