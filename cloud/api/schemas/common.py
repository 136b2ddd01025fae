"""What every schema shares: strict inputs, attribute-reading outputs, page shapes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Input", "Output", "PageInfo"]


class Input(BaseModel):
    """A request body: unknown fields are errors (a typo is not silently ignored)."""

    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    """A response body, built from a peewee row or a dict."""

    model_config = ConfigDict(from_attributes=True)


class PageInfo(Output):
    """The paging part of a cursor-paginated collection (``XsPublic``)."""

    count: int = Field(description="Items in this page.")
    next_cursor: str | None = Field(
        default=None, description="Pass as ?cursor= for the next page; empty at the end."
    )
