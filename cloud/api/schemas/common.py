"""What every schema shares: strict inputs, attribute-reading outputs, page shapes."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

__all__ = ["Input", "Output", "PageInfo", "StoredJson"]

StoredJson = Annotated[Any, WithJsonSchema({})]
"""A JSON value read back from the database (validated as ``JsonValue`` on the way
in). Typed ``Any`` on the way out: checking every nested value again on each
read cost more than the rest of a timeline item."""


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
