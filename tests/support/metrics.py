"""Reading a /metrics exposition in tests: prometheus_client's own parser, so a test reads the
text as a scraper would rather than by string matching."""

from __future__ import annotations

import json
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families


def sample_values(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample named `name` (`observer_sessions`, `observer_wait_seconds_count`...)."""
    return [
        (dict(sample.labels), float(sample.value))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples named `name` whose labels include `labels` (0 when none)."""
    return sum(
        found
        for sample_labels, found in sample_values(text, name)
        if all(sample_labels.get(key) == wanted for key, wanted in labels.items())
    )


def label_values(text: str, name: str, label: str) -> set[str]:
    return {labels[label] for labels, _ in sample_values(text, name) if label in labels}


SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "info": ("_info",)}


def series_names(text: str) -> set[str]:
    """The names a query can use: each family's samples', whether it has samples yet or not."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def dashboard_queries(path: Path) -> list[str]:
    """Every PromQL expression of a Grafana dashboard's panels."""
    dashboard = json.loads(path.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
