"""The one place that talks to Stripe.

Every mutating call carries an idempotency key derived from (event id or refund-request id,
action, object), and is written to the `stripe_calls` audit table in the caller's transaction.
Before calling, the gateway looks for a completed call with the same key: Stripe forgets keys
after about 24 hours, our audit table does not, so a replay days later is still a no-op.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import stripe
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from worker import local_stripe
from worker.config import Settings
from worker.db.models import Refund, StripeCall
from worker.errors import FinalError, MalformedPayload, RetryableError
from worker.metrics import record_rate_limited, record_stripe_call, record_stripe_request
from worker.stripe_budget import StripeBudget, budget_from_settings, endpoint_of
from worker.stripe_retry import (
    DECLINED,
    NO_EFFECT,
    OK,
    RETRY_SUFFIX,
    UNKNOWN,
    attempt_key,
    must_look_first,
)

EffectCheck = Callable[[], "str | None"]  # the resulting object's id if the effect is there

log = logging.getLogger(__name__)
GIVEN_BACK = ("failed", "canceled")  # refund statuses that returned nothing to the customer

# Pinned so a Stripe-side default change never alters what our handlers parse.
API_VERSION = "2026-10-28.endive"
TIMEOUT_SECONDS = (5.0, 30.0)  # connect, read
NETWORK_RETRIES = 2  # Stripe's own retries reuse our idempotency key, so they are safe
KEY_PREFIX = "bw"  # marks our own changes: an event caused by them needs no enforcement


def build_client(settings: Settings, budget: StripeBudget | None = None) -> stripe.StripeClient:
    """The client every Stripe call goes through, paced by the shared budget (`budget`, or the
    settings' one; none when STRIPE_RATE_LIMIT=0)."""
    address = local_stripe.api_base(settings)
    no_stripe = address is None and local_stripe.wants_local_stripe(settings)
    http: stripe.HTTPClient = (
        NoStripeClient()
        if no_stripe
        else PacedRequestsClient(budget or budget_from_settings(settings), timeout=TIMEOUT_SECONDS)
    )
    return stripe.StripeClient(
        settings.stripe_api_key or "sk_test_123",
        stripe_version=API_VERSION,
        base_addresses={"api": address} if address else None,  # type: ignore[arg-type]
        max_network_retries=NETWORK_RETRIES,
        http_client=http,
    )


class PacedRequestsClient(stripe.RequestsClient):
    """stripe-python's requests client, waiting for a slot in Stripe's budget before every HTTP
    request: reads, writes, each page of a list and stripe-python's own network retries alike.
    Also counts each request and each 429 (a 429 stays a retryable error: `classify`)."""

    def __init__(self, budget: StripeBudget | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.budget = budget

    def request(self, method: str, url: str, headers: Any, post_data: Any = None) -> Any:
        send = super().request
        return self._paced(method, url, lambda: send(method, url, headers, post_data))

    def request_stream(self, method: str, url: str, headers: Any, post_data: Any = None) -> Any:
        send = super().request_stream
        return self._paced(method, url, lambda: send(method, url, headers, post_data))

    def _paced(self, method: str, url: str, send: Callable[[], Any]) -> Any:
        endpoint = endpoint_of(method, url)
        if self.budget is not None:
            self.budget.wait_for_slot(endpoint)
        try:
            response = send()
        except stripe.APIConnectionError:
            record_stripe_request(endpoint, None)
            raise
        body, status, headers = response
        record_stripe_request(endpoint, status)
        if status == 429:
            reason = rate_limited_reason(body, headers)
            record_rate_limited(endpoint, reason or "none")
            if self.budget is not None:
                self.budget.report_429(endpoint, reason)
        return response


def rate_limited_reason(body: Any, headers: Mapping[str, str] | None) -> str | None:
    """Stripe-Rate-Limited-Reason; a 429 without it for a lock timeout is a busy object, not a
    spent budget (Stripe's rate-limits page)."""
    reason = (headers or {}).get("Stripe-Rate-Limited-Reason")
    if reason:
        return reason
    if isinstance(body, bytes | str) and "lock_timeout" in str(body):
        return "lock_timeout"
    return None


def classify(error: stripe.StripeError) -> RetryableError | FinalError:
    """Rate limits, Stripe's 5xx, lost connections and a 409 (a request with the same key still
    in flight, or a lock held) are worth retrying; nothing else is."""
    status = error.http_status or 0
    message = f"{type(error).__name__}: {error.user_message or error}"
    retryable = isinstance(error, stripe.RateLimitError | stripe.APIConnectionError)
    if retryable or status >= 500 or status == 409:
        return RetryableError(message)
    return FinalError(message)


def outcome_unknown(error: stripe.StripeError) -> bool:
    """The call may have taken effect: Stripe failed after starting, or never answered."""
    return isinstance(error, stripe.APIConnectionError) or (error.http_status or 0) >= 500


def idempotency_key(source_id: str, action: str, object_id: str | None = None) -> str:
    return ":".join(part for part in (KEY_PREFIX, source_id, action, object_id) if part)


def is_ours(key: str | None) -> bool:
    return bool(key) and str(key).startswith(KEY_PREFIX + ":")


def as_dict(obj: Any) -> dict[str, Any]:
    return obj.to_dict(recursive=True) if hasattr(obj, "to_dict") else dict(obj)


class StripeGateway:
    """Stripe calls made on behalf of one event or one refund request (the `source_id`)."""

    def __init__(
        self,
        client: stripe.StripeClient,
        session: Session,
        source_id: str,
        *,
        event_id: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.client = client
        self.session = session
        self.source_id = source_id
        self.event_id = event_id
        self.request_id = request_id
        # Failed calls are rolled back with the handler; the caller writes these afterwards.
        self.failed_calls: list[StripeCall] = []

    # Reads ---------------------------------------------------------------------------------

    def _read(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except stripe.StripeError as exc:
            raise classify(exc) from exc

    def customer(self, customer_id: str) -> dict[str, Any] | None:
        """The customer, or None if Stripe has no such customer."""
        try:
            return as_dict(self.client.v1.customers.retrieve(customer_id))
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return None
            raise classify(exc) from exc
        except stripe.StripeError as exc:
            raise classify(exc) from exc

    def price(self, price_id: str) -> dict[str, Any]:
        return as_dict(
            self._read(lambda: self.client.v1.prices.retrieve(price_id, {"expand": ["product"]}))
        )

    def product(self, product_id: str) -> dict[str, Any]:
        return as_dict(self._read(lambda: self.client.v1.products.retrieve(product_id)))

    def charge(self, charge_id: str) -> dict[str, Any]:
        return as_dict(self._read(lambda: self.client.v1.charges.retrieve(charge_id)))

    def invoice_payments(self, invoice_id: str) -> list[dict[str, Any]]:
        """All of an invoice's InvoicePayments (API 2025-03-31+: an invoice may be paid in
        parts; the default one may be `open` or `canceled`)."""
        return self._read_all(
            lambda: self.client.v1.invoice_payments.list({"invoice": invoice_id, "limit": 100})
        )

    def charge_of(self, payment_intent: str | None, charge: str | None) -> dict[str, Any] | None:
        """The charge that holds a payment's money: the intent's latest charge, or the charge."""
        if payment_intent:
            intent = as_dict(
                self._read(lambda: self.client.v1.payment_intents.retrieve(payment_intent))
            )
            charge = intent.get("latest_charge")
            charge = charge.get("id") if isinstance(charge, dict) else charge
        return self.charge(charge) if charge else None

    def dispute(self, dispute_id: str) -> dict[str, Any]:
        """The dispute as Stripe has it now: what settles two events of the same second."""
        return as_dict(self._read(lambda: self.client.v1.disputes.retrieve(dispute_id)))

    def invoice_payment(self, invoice_id: str) -> dict[str, Any] | None:
        """The invoice's default payment (payment intent or charge), which a refund goes to."""
        listing = self._read(
            lambda: self.client.v1.invoice_payments.list({"invoice": invoice_id, "limit": 10})
        )
        payments = [as_dict(p) for p in listing.data]
        default = [p for p in payments if p.get("is_default")] or payments
        return default[0].get("payment") if default else None

    def _read_all(self, call: Callable[[], Any]) -> list[dict[str, Any]]:
        """Every page of a list: `auto_paging_iter` fetches page 2 and on lazily, so it runs
        inside the classifier too, and a 429 or 5xx on a later page is retryable like any read."""
        try:
            return [as_dict(obj) for obj in call().auto_paging_iter()]
        except stripe.StripeError as exc:
            raise classify(exc) from exc

    def invoice_lines(self, invoice_id: str) -> list[dict[str, Any]]:
        """Every line of an invoice whose payload listed only the first page."""
        return self._read_all(
            lambda: self.client.v1.invoices.line_items.list(invoice_id, {"limit": 100})
        )

    def pending_invoice_items(self, customer_id: str) -> list[dict[str, Any]]:
        return self._read_all(
            lambda: self.client.v1.invoice_items.list(
                {"customer": customer_id, "pending": True, "limit": 100}
            )
        )

    def _invoice_status(self, invoice_id: str) -> str | None:
        return as_dict(self._read(lambda: self.client.v1.invoices.retrieve(invoice_id))).get(
            "status"
        )

    def related_object(self, notification: str) -> dict[str, Any]:
        """A thin event's object as Stripe has it now. stripe-python parses the notification
        and GETs its `related_object.url` in the event's `context` (Stripe-Context: the
        connected account it is of), through our paced client like any read."""
        try:
            notice = self.client.parse_event_notification_without_verification(notification)
        except KeyError as exc:  # a field its type must have: `related_object` for a v1 type
            raise MalformedPayload(f"thin event without {exc.args[0]}") from None
        except ValueError as exc:
            raise MalformedPayload(f"not a thin event: {exc}") from None
        if getattr(notice, "related_object", None) is None:
            raise MalformedPayload(f"thin {notice.type} names no related_object to fetch")
        fetch: Callable[[], Any] = notice.fetch_related_object  # type: ignore[attr-defined]
        return as_dict(self._read(fetch))

    def subscription(self, subscription_id: str) -> dict[str, Any]:
        return as_dict(self._read(lambda: self.client.v1.subscriptions.retrieve(subscription_id)))

    def subscriptions_of(self, customer_id: str) -> list[dict[str, Any]]:
        return self._read_all(
            lambda: self.client.v1.subscriptions.list(
                {"customer": customer_id, "status": "all", "limit": 100}
            )
        )

    # Writes --------------------------------------------------------------------------------

    def _mutate(
        self,
        method: str,
        object_id: str | None,
        action: str,
        call: Callable[[Any], Any],
        effect: EffectCheck | None = None,
        *,
        decline_is_outcome: bool = False,
    ) -> str | None:
        """Run `call(options)` once per (source, action, object); return the resulting id.

        `effect` re-reads Stripe to tell whether the call's effect is already there; with it,
        a 5xx or a timeout is resolved by looking rather than by retrying blindly (see
        worker/stripe_retry.py for the rules and the derived key). With `decline_is_outcome`,
        a card decline (402) is recorded as `declined` and returns `object_id`: the caller's
        work stands, and is not redone on a replay.
        """
        key = idempotency_key(self.source_id, action, object_id)
        attempts = self._attempts(key)
        done = next((a for a in attempts if a.outcome in (OK, DECLINED)), None)
        if done is not None:
            return done.result_id
        outcomes = [a.outcome for a in attempts]
        if effect is not None and must_look_first(outcomes):
            _, found = self._look(effect)
            if found is not None:
                return self._done(method, object_id, key, found)
        sent_key = attempt_key(key, outcomes)
        try:
            result = call({"idempotency_key": sent_key})
        except stripe.CardError as exc:
            if not decline_is_outcome:
                raise self._failed(method, object_id, sent_key, "error", exc) from exc
            log.warning("%s %s declined: %s", method, object_id, exc.user_message or exc)
            return self._done(method, object_id, sent_key, object_id, DECLINED)
        except stripe.StripeError as exc:
            outcome = "error"
            if outcome_unknown(exc):
                checked, found = self._look(effect) if effect is not None else (False, None)
                if found is not None:  # Stripe did the work, then failed to say so
                    return self._done(method, object_id, sent_key, found)
                answered = not isinstance(exc, stripe.APIConnectionError)
                outcome = NO_EFFECT if answered and checked else UNKNOWN
            raise self._failed(method, object_id, sent_key, outcome, exc) from exc
        return self._done(method, object_id, sent_key, getattr(result, "id", None))

    def _attempts(self, key: str) -> list[StripeCall]:
        """Earlier attempts of this call: under its key, or a key derived from it."""
        return list(
            self.session.scalars(
                select(StripeCall)
                .where(
                    or_(
                        StripeCall.idempotency_key == key,
                        # autoescape: ids hold "_", a LIKE wildcard
                        StripeCall.idempotency_key.startswith(
                            f"{key}{RETRY_SUFFIX}", autoescape=True
                        ),
                    )
                )
                .order_by(StripeCall.id)
            )
        )

    @staticmethod
    def _look(effect: EffectCheck) -> tuple[bool, str | None]:
        """(checked, the effect's id): a read that fails leaves the outcome unknown."""
        try:
            return True, effect()
        except (RetryableError, FinalError):
            return False, None

    def _done(
        self,
        method: str,
        object_id: str | None,
        key: str,
        result_id: str | None,
        outcome: str = OK,
    ) -> str | None:
        record_stripe_call(method, outcome)
        self.session.add(self._audit(method, object_id, key, outcome, result_id, None))
        self.session.flush()
        return result_id

    def _failed(
        self,
        method: str,
        object_id: str | None,
        key: str,
        outcome: str,
        exc: stripe.StripeError,
    ) -> RetryableError | FinalError:
        """Audit a failed attempt (written after the caller's rollback) and classify it."""
        error = classify(exc)
        record_stripe_call(method, outcome)
        self.failed_calls.append(self._audit(method, object_id, key, outcome, None, error))
        return error

    def _audit(
        self,
        method: str,
        object_id: str | None,
        key: str,
        outcome: str,
        result_id: str | None,
        error: Exception | None,
    ) -> StripeCall:
        return StripeCall(
            method=method,
            object_id=object_id,
            idempotency_key=key,
            outcome=outcome,
            result_id=result_id,
            error=str(error) if error else None,
            event_id=self.event_id,
            request_id=self.request_id,
        )

    def refund(
        self,
        *,
        payment_intent: str | None,
        charge: str | None,
        amount: int,
        metadata: dict[str, str],
        attempt: int = 1,
    ) -> str | None:
        """Refund `amount` of one payment once per (request, attempt): key
        `bw:<source>:refund:<payment>` (`refund_attempt<n>` after a failed refund). The refund
        carries `refund_request_id` in its metadata, so (request, payment) finds it again after
        Stripe forgot the key."""
        payment = payment_intent or charge
        target: dict[str, Any] = (
            {"payment_intent": payment_intent} if payment_intent else {"charge": charge}
        )
        params = {
            **target,
            "amount": amount,
            "reason": "requested_by_customer",
            "metadata": metadata,
        }
        return self._mutate(
            "refunds.create",
            payment,
            "refund" if attempt == 1 else f"refund_attempt{attempt}",
            lambda options: self.client.v1.refunds.create(params, options),  # type: ignore[arg-type]
            effect=lambda: self._refund_of_this_request(target),
        )

    def _refund_of_this_request(self, target: dict[str, Any]) -> str | None:
        """This request's live refund of this payment, if it exists: in our `refunds` table,
        else among the payment's refunds at Stripe (by `metadata.refund_request_id`). A failed
        or canceled one is an earlier attempt's, given back: it is not this call's effect."""
        if not self.request_id:
            return None
        payment = next(iter(target.values()))
        ours = self.session.scalar(
            select(Refund.id).where(
                Refund.request_id == self.request_id,
                or_(Refund.payment_intent_id == payment, Refund.charge_id == payment),
                Refund.status.not_in(GIVEN_BACK),
            )
        )
        if ours:
            return ours
        refunds = self._read_all(lambda: self.client.v1.refunds.list({**target, "limit": 100}))
        return next(
            (
                r["id"]
                for r in refunds
                if (r.get("metadata") or {}).get("refund_request_id") == self.request_id
                and r.get("status") not in GIVEN_BACK
            ),
            None,
        )

    def pause_collection(self, subscription_id: str) -> str | None:
        """M6.dispute suspend: stop charging; invoices made meanwhile are voided."""
        params = {"pause_collection": {"behavior": "void"}}
        return self._update_subscription(
            subscription_id,
            "pause_collection",
            params,
            lambda sub: (sub.get("pause_collection") or {}).get("behavior") == "void",
        )

    def resume_collection(self, subscription_id: str) -> str | None:
        return self._update_subscription(
            subscription_id,
            "resume_collection",
            {"pause_collection": ""},
            lambda sub: not sub.get("pause_collection"),
        )

    def cancel_subscription_now(self, subscription_id: str) -> str | None:
        """M6.dispute lost: cancel at once, no proration credit, no final invoice."""
        params = {"prorate": False, "invoice_now": False}
        return self._mutate(
            "subscriptions.cancel",
            subscription_id,
            "cancel_now",
            lambda options: self.client.v1.subscriptions.cancel(subscription_id, params, options),  # type: ignore[arg-type]
            effect=self._subscription_effect(
                subscription_id, lambda sub: sub.get("status") == "canceled"
            ),
        )

    def cancel_at_period_end(self, subscription_id: str) -> str | None:
        return self._update_subscription(
            subscription_id,
            "cancel_at_period_end",
            {"cancel_at_period_end": True},
            lambda sub: bool(sub.get("cancel_at_period_end")),
        )

    def change_subscription(
        self,
        subscription_id: str,
        items: list[dict[str, Any]],
        proration_behavior: str,
        action: str,
    ) -> str | None:
        params = {"items": items, "proration_behavior": proration_behavior}
        return self._update_subscription(
            subscription_id, action, params, lambda sub: _items_as_asked(sub, items)
        )

    def _update_subscription(
        self,
        subscription_id: str,
        action: str,
        params: dict[str, Any],
        applied: Callable[[dict[str, Any]], bool],
    ) -> str | None:
        return self._mutate(
            "subscriptions.update",
            subscription_id,
            action,
            lambda options: self.client.v1.subscriptions.update(subscription_id, params, options),  # type: ignore[arg-type]
            effect=self._subscription_effect(subscription_id, applied),
        )

    def _subscription_effect(
        self, subscription_id: str, applied: Callable[[dict[str, Any]], bool]
    ) -> EffectCheck:
        def check() -> str | None:
            return subscription_id if applied(self.subscription(subscription_id)) else None

        return check

    def set_account_status(self, customer_id: str, status: str) -> str | None:
        params = {"metadata": {"account_status": status}}

        def applied() -> str | None:
            customer = self.customer(customer_id) or {}
            marked = (customer.get("metadata") or {}).get("account_status") == status
            return customer_id if marked else None

        return self._mutate(
            "customers.update",
            customer_id,
            f"account_status_{status}",
            lambda options: self.client.v1.customers.update(customer_id, params, options),  # type: ignore[arg-type]
            effect=applied,
        )

    def delete_invoice_item(self, item_id: str) -> str | None:
        """M3.downgrade: remove a pending proration (credit or debit) of a change made elsewhere."""
        return self._mutate(
            "invoice_items.delete",
            item_id,
            "delete_credit_proration",  # the name keys made before debits were removed too kept
            lambda options: self.client.v1.invoice_items.delete(item_id, None, options),
            effect=lambda: None if self._invoice_item_exists(item_id) else item_id,
        )

    def _invoice_item_exists(self, item_id: str) -> bool:
        try:
            self.client.v1.invoice_items.retrieve(item_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return False
            raise classify(exc) from exc
        except stripe.StripeError as exc:
            raise classify(exc) from exc
        return True

    def debit_customer_balance(
        self, customer_id: str, amount: int, currency: str, invoice_id: str
    ) -> str | None:
        """M3.downgrade: take back a proration credit that an invoice put on the balance."""
        params = {
            "amount": amount,  # positive: the customer owes it, on their next invoice
            "currency": currency,
            "description": f"Proration of a downgrade reversed (M3.downgrade, {invoice_id})",
            "metadata": {"invoice": invoice_id, "clause": "M3.downgrade"},
        }
        return self._mutate(
            "customers.balance_transactions.create",
            invoice_id,
            "reverse_proration_credit",
            lambda options: self.client.v1.customers.balance_transactions.create(
                customer_id,
                params,  # type: ignore[arg-type]
                options,
            ),
        )

    def invoice_pending_now(self, customer_id: str, subscription_id: str) -> str | None:
        """D3.upgrade: put the pending proration on an invoice and collect it at once."""
        params = {
            "customer": customer_id,
            "subscription": subscription_id,
            "pending_invoice_items_behavior": "include",
            "auto_advance": True,
        }
        invoice_id = self._mutate(
            "invoices.create",
            subscription_id,
            "invoice_pending_proration",
            lambda options: self.client.v1.invoices.create(params, options),  # type: ignore[arg-type]
        )
        if invoice_id:
            self._mutate(
                "invoices.pay",
                invoice_id,
                "pay_pending_proration",
                lambda options: self.client.v1.invoices.pay(invoice_id, None, options),
                effect=lambda: invoice_id if self._invoice_status(invoice_id) == "paid" else None,
                # D3.upgrade: a declined card leaves the invoice open and Stripe's dunning
                # collects it; the upgrade stands, so the decline is recorded, not a failure.
                decline_is_outcome=True,
            )
        return invoice_id


def _items_as_asked(sub: dict[str, Any], asked: list[dict[str, Any]]) -> bool:
    """Whether the subscription's items already have the prices and quantities asked for."""
    current = {item.get("id"): item for item in (sub.get("items") or {}).get("data") or []}
    for change in asked:
        item = current.get(change.get("id"))
        if item is None:
            return False
        price = item.get("price")
        price_id = price.get("id") if isinstance(price, dict) else price
        if change.get("price") and price_id != change["price"]:
            return False
        if change.get("quantity") is not None and item.get("quantity") != change["quantity"]:
            return False
    return True


class NoStripeClient(stripe.HTTPClient):
    """Answers every call as Stripe answers a bad key, with our message: the caller's error
    handling (a failed event, a failed refund request) then says what to set. Here, not in
    worker/local_stripe.py, which `config check` reads and which must not import stripe."""

    name = "no-stripe"

    def request(self, method: str, url: str, headers: Any, post_data: Any = None, **_: Any) -> Any:
        body = json.dumps(
            {"error": {"type": "invalid_request_error", "message": local_stripe.NO_STRIPE}}
        )
        return body, 401, {}

    def request_stream(
        self, method: str, url: str, headers: Any, post_data: Any = None, **_: Any
    ) -> Any:
        return self.request(method, url, headers, post_data)

    def close(self) -> None:
        return None
