"""Tables of the provisioning area: subscriber identities."""

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

