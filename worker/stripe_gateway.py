"""The one place that talks to Stripe.

Every mutating call carries an idempotency key derived from (event id or refund-request id,
action, object), and is written to the `stripe_calls` audit table in the caller's transaction.
Before calling, the gateway looks for a completed call with the same key: Stripe forgets keys
after about 24 hours, our audit table does not, so a replay days later is still a no-op.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import stripe
from sqlalchemy import select
from sqlalchemy.orm import Session

from worker import local_stripe
from worker.config import Settings
from worker.db.models import StripeCall
from worker.errors import FinalError, RetryableError
from worker.metrics import record_rate_limited, record_stripe_call, record_stripe_request
from worker.stripe_budget import StripeBudget, budget_from_settings, endpoint_of

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
        local_stripe.NoStripeClient()
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
    """Rate limits, Stripe's 5xx and lost connections are worth retrying; nothing else is."""
    status = error.http_status or 0
    message = f"{type(error).__name__}: {error.user_message or error}"
    if isinstance(error, stripe.RateLimitError | stripe.APIConnectionError) or status >= 500:
        return RetryableError(message)
    return FinalError(message)


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

    def invoice_lines(self, invoice_id: str) -> list[dict[str, Any]]:
        """Every line of an invoice whose payload listed only the first page."""
        listing = self._read(
            lambda: self.client.v1.invoices.line_items.list(invoice_id, {"limit": 100})
        )
        return [as_dict(line) for line in listing.auto_paging_iter()]

    def pending_invoice_items(self, customer_id: str) -> list[dict[str, Any]]:
        listing = self._read(
            lambda: self.client.v1.invoice_items.list(
                {"customer": customer_id, "pending": True, "limit": 100}
            )
        )
        return [as_dict(item) for item in listing.data]

    def subscriptions_of(self, customer_id: str) -> list[dict[str, Any]]:
        listing = self._read(
            lambda: self.client.v1.subscriptions.list(
                {"customer": customer_id, "status": "all", "limit": 100}
            )
        )
        return [as_dict(sub) for sub in listing.data]

    # Writes --------------------------------------------------------------------------------

    def _mutate(
        self, method: str, object_id: str | None, action: str, call: Callable[[Any], Any]
    ) -> str | None:
        """Run `call(options)` once per (source, action, object); return the resulting id."""
        key = idempotency_key(self.source_id, action, object_id)
        done = self.session.scalar(
            select(StripeCall).where(StripeCall.idempotency_key == key, StripeCall.outcome == "ok")
        )
        if done is not None:
            return done.result_id
        try:
            result = call({"idempotency_key": key})
        except stripe.StripeError as exc:
            error = classify(exc)
            record_stripe_call(method, "error")
            self.failed_calls.append(self._audit(method, object_id, key, "error", None, error))
            raise error from exc
        record_stripe_call(method, "ok")
        result_id = getattr(result, "id", None)
        self.session.add(self._audit(method, object_id, key, "ok", result_id, None))
        self.session.flush()
        return result_id

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
        """Refund once per (request, attempt): a retry of the same attempt reuses its key, so
        Stripe refunds once; a new attempt after a failed refund needs a key of its own."""
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
            payment_intent or charge,
            "refund" if attempt == 1 else f"refund_attempt{attempt}",
            lambda options: self.client.v1.refunds.create(params, options),  # type: ignore[arg-type]
        )

    def pause_collection(self, subscription_id: str) -> str | None:
        """M6.dispute suspend: stop charging; invoices made meanwhile are voided."""
        params = {"pause_collection": {"behavior": "void"}}
        return self._update_subscription(subscription_id, "pause_collection", params)

    def resume_collection(self, subscription_id: str) -> str | None:
        return self._update_subscription(
            subscription_id, "resume_collection", {"pause_collection": ""}
        )

    def cancel_subscription_now(self, subscription_id: str) -> str | None:
        """M6.dispute lost: cancel at once, no proration credit, no final invoice."""
        params = {"prorate": False, "invoice_now": False}
        return self._mutate(
            "subscriptions.cancel",
            subscription_id,
            "cancel_now",
            lambda options: self.client.v1.subscriptions.cancel(subscription_id, params, options),  # type: ignore[arg-type]
        )

    def cancel_at_period_end(self, subscription_id: str) -> str | None:
        return self._update_subscription(
            subscription_id, "cancel_at_period_end", {"cancel_at_period_end": True}
        )

    def change_subscription(
        self,
        subscription_id: str,
        items: list[dict[str, Any]],
        proration_behavior: str,
        action: str,
    ) -> str | None:
        params = {"items": items, "proration_behavior": proration_behavior}
        return self._update_subscription(subscription_id, action, params)

    def _update_subscription(
        self, subscription_id: str, action: str, params: dict[str, Any]
    ) -> str | None:
        return self._mutate(
            "subscriptions.update",
            subscription_id,
            action,
            lambda options: self.client.v1.subscriptions.update(subscription_id, params, options),  # type: ignore[arg-type]
        )

    def set_account_status(self, customer_id: str, status: str) -> str | None:
        params = {"metadata": {"account_status": status}}
        return self._mutate(
            "customers.update",
            customer_id,
            f"account_status_{status}",
            lambda options: self.client.v1.customers.update(customer_id, params, options),  # type: ignore[arg-type]
        )

    def delete_invoice_item(self, item_id: str) -> str | None:
        """M3.downgrade: remove a pending proration (credit or debit) of a change made elsewhere."""
        return self._mutate(
            "invoice_items.delete",
            item_id,
            "delete_credit_proration",  # the name keys made before debits were removed too kept
            lambda options: self.client.v1.invoice_items.delete(item_id, None, options),
        )

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
            )
        return invoice_id
