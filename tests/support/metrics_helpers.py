"""Reading the portal's metrics as Prometheus would: a scrape parsed into samples."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

TOKEN = "metrics-token-" + "m" * 30
AUTHORIZATION = {"Authorization": f"Bearer {TOKEN}"}

Samples = dict[tuple[str, frozenset], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition, by (name, labels)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client) -> Samples:
    """``/metrics`` of an app, through its test client, with the token."""
    response = client.get("/metrics", headers=AUTHORIZATION)
    assert response.status_code == 200, response.data[:300]
    return parse(response.get_data(as_text=True))


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much one series grew between two scrapes."""
    return value(after, name, **labels) - value(before, name, **labels)
