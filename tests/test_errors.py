"""One exception root per package, and one table from domain errors to HTTP statuses."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

from agent.errors import AgentError
from cloud.api.errors import HTTP_STATUS, status_of
from cloud.errors import CloudError, Conflict, DomainError, NotFound, Unauthorized
from core.settings import ConfigError
from protocol import ProtocolError

ROOTS: dict[str, type[Exception]] = {
    "agent": AgentError,
    "cloud": CloudError,
    "protocol": ProtocolError,
    "core": ConfigError,
}


def _public_exceptions(package: str) -> list[type[BaseException]]:
    root = importlib.import_module(package)
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
                and not name.startswith("_")
            ):
                found[f"{module.__name__}.{name}"] = value
    return list(found.values())


@pytest.mark.parametrize("package", sorted(ROOTS))
def test_every_public_exception_derives_from_its_package_root(package: str) -> None:
    errors = _public_exceptions(package)
    assert errors, f"no exceptions found in {package}"
    strays = [e.__qualname__ for e in errors if not issubclass(e, ROOTS[package])]
    assert not strays, f"{package}: {strays} do not derive from {ROOTS[package].__name__}"


def test_every_kind_of_domain_error_has_a_status() -> None:
    """A new kind (a direct subclass of DomainError) needs a line in HTTP_STATUS."""
    _public_exceptions("cloud")  # import every module, so every kind is defined
    kinds = DomainError.__subclasses__()
    assert kinds
    assert [k.__name__ for k in kinds if k not in HTTP_STATUS] == []


def test_a_subclass_takes_its_kinds_status() -> None:
    class SessionFull(Conflict):
        code = "session_full"

    assert status_of(SessionFull("the session is full")) == 409
    assert SessionFull("x").code == "session_full"
    assert status_of(NotFound("session", 3)) == 404
    assert status_of(Unauthorized("no token")) == 401
    assert status_of(DomainError("plain")) == 400
