"""IPAM errors. Each names the input and what is wrong; ``status`` is the HTTP code the API returns."""

from __future__ import annotations


class IpamError(ValueError):
    status = 400


class NotFoundError(IpamError):
    status = 404


class ConflictError(IpamError):
    status = 409


class PoolExhaustedError(ConflictError):
    def __init__(self, pool: str, range_cidr: str, used: int, total: int, wanted: int) -> None:
        percent = 100.0 * used / total if total else 100.0
        super().__init__(
            f"pool {pool!r} is exhausted: no free /{wanted} left in {range_cidr} "
            f"(utilization {percent:.2f}%, {used} of {total} customer blocks used)"
        )
        self.pool = pool
        self.utilization_percent = percent


class ForbiddenTenantError(IpamError):
    """A tenant-scoped caller asked to act for another tenant."""

    status = 403


class ForbiddenAddressError(IpamError):
    status = 422


class PlanError(IpamError):
    status = 422
