"""Reading a Prometheus endpoint the way Prometheus does (its text format, parsed)."""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Samples", "parse", "scrape"]


class Samples:
    """Every sample of one scrape, looked up by name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._values: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                key = (sample.name, frozenset(sample.labels.items()))
                self._values[key] = sample.value

    def get(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        """The sample's value; 0 when it is absent (a counter not yet touched)."""
        return self._values.get((name, frozenset((labels or {}).items())), 0.0)

    def total(self, name: str, **labels: str) -> float:
        """The sum over every sample of ``name`` whose labels include ``labels``."""
        wanted = set(labels.items())
        return sum(
            value
            for (sample, found), value in self._values.items()
            if sample == name and wanted <= found
        )

    def names(self) -> set[str]:
        return {name for name, _ in self._values}


def parse(text: str | bytes) -> Samples:
    return Samples(text.decode() if isinstance(text, bytes) else text)


def scrape(url: str, headers: Mapping[str, str] | None = None) -> Samples:
    request = urllib.request.Request(url, headers=dict(headers or {}))
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return parse(response.read())
