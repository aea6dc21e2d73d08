"""Error types, caught at the edges: a status code, an exit code or a failed event."""


class BillingWorkerError(Exception):
    """Base of the worker's own errors."""


class InvalidRequest(BillingWorkerError):
    """An operator's command that cannot be carried out as given; the message says why."""


class NotFound(InvalidRequest):
    """An operator's command names a record that is not stored."""


class RetryableError(BillingWorkerError):
    """A transient failure (Stripe rate limit or 5xx, a lost connection): try again later."""


class FinalError(BillingWorkerError):
    """A failure that retrying will not fix: the event is parked as `failed`, ready to replay."""


class MalformedPayload(FinalError):
    """The event's object lacks a field its handler needs."""


class UnknownCustomer(FinalError):
    """The event is about a customer the worker has no record of."""
