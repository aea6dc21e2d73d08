"""Money in a currency's minor unit, and how to write it in a sentence to a customer.

Refund arithmetic is integer throughout (multiply first, then floor); this module only knows how
many decimals each currency has, which matters for explanations, never for the arithmetic.
"""

# Stripe's zero-decimal currencies: amounts are whole units (JPY 1200 is ¥1,200, not ¥12.00).
ZERO_DECIMAL_CURRENCIES = frozenset(
    {
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga",
        "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf",
    }
)  # fmt: skip

# Stripe's three-decimal currencies: amounts are in thousandths.
THREE_DECIMAL_CURRENCIES = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})


def minor_unit_digits(currency: str) -> int:
    """How many decimals the currency's minor unit has (2 for usd, 0 for jpy, 3 for kwd)."""
    code = currency.lower()
    if code in ZERO_DECIMAL_CURRENCIES:
        return 0
    if code in THREE_DECIMAL_CURRENCIES:
        return 3
    return 2


def format_money(amount: int, currency: str) -> str:
    """`1100.00 USD`-style text for an integer amount in the currency's minor unit."""
    digits = minor_unit_digits(currency)
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10**digits)
    text = f"{whole:,}"
    if digits:
        text += f".{fraction:0{digits}d}"
    return f"{sign}{text} {currency.upper()}"


def share_of(amount: int, numerator: int, denominator: int) -> int:
    """`floor(amount × numerator / denominator)`: multiply first, then floor, never a float."""
    return amount * numerator // denominator
