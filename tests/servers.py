"""Real Redis, PostgreSQL and stripe-mock servers on free loopback ports, for the test suite.

The implementation is shared with the benchmarks and lives in `bench/servers.py`; a missing
binary fails the test with the command that installs it (`MissingBinary`).
"""

from bench.servers import (
    INSTALL_HINTS,
    STRIPE_MOCK_VERSION,
    MissingBinary,
    PostgresServer,
    RedisServer,
    StripeMock,
    find_binary,
    free_port,
    wait_for_port,
)

__all__ = [
    "INSTALL_HINTS",
    "STRIPE_MOCK_VERSION",
    "MissingBinary",
    "PostgresServer",
    "RedisServer",
    "StripeMock",
    "find_binary",
    "free_port",
    "wait_for_port",
]


def pending_proration_mock(
    item_id: str, amount: int, customer: str, subscription: str
) -> StripeMock:
    """stripe-mock whose pending invoice item is the proration a change in the customer portal
    leaves: a credit (amount < 0) after a downgrade, a charge after an upgrade."""
    return StripeMock(
        {
            "invoiceitem": {
                "id": item_id,
                "proration": True,
                "amount": amount,
                "customer": customer,
                "parent": {
                    "type": "subscription_details",
                    "subscription_details": {"subscription": subscription},
                },
            }
        }
    )
