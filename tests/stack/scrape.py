"""Reading a Prometheus scrape in tests."""

from __future__ import annotations

import requests
from prometheus_client.parser import text_string_to_metric_families


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the exposition at `url`, by (name, labels)."""
    text = requests.get(url, timeout=10).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series does not exist yet (a counter never incremented)."""
    return samples.get((name, frozenset(labels.items())), 0.0)
