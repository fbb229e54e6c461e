"""Tables of the provisioning area: subscriber identities and the queue of subscribers to sync."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from v6ops.store.models import Base


class SubscriberIdentity(Base):
    """One identity of a subscriber; (kind, value) is unique, so no two subscribers share one."""

    __tablename__ = "subscriber_identities"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(400))
    # radius-username only: "password" (secret is the SSHA2-256 hash) or "nas" (no secret)
    auth: Mapped[str | None] = mapped_column(String(10), nullable=True)
    secret: Mapped[str | None] = mapped_column(String(100), nullable=True)
    __table_args__ = (
        UniqueConstraint("kind", "value", name="uq_identity_kind_value"),
        UniqueConstraint("subscriber_id", "kind", name="uq_identity_subscriber_kind"),
    )



class ProvisioningQueue(Base):
    """A subscriber whose records in ``target`` (radius, kea) may be stale; ``sync`` consumes these rows.

    ``previous`` is an identity the target may still hold (the old RADIUS User-Name after a change), so an
    incremental sync finds and removes its rows without reading every row of the target.
    """

    __tablename__ = "provisioning_queue"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target: Mapped[str] = mapped_column(String(10), index=True)
    subscriber_id: Mapped[int] = mapped_column(Integer)
    previous: Mapped[str | None] = mapped_column(String(400), nullable=True)
