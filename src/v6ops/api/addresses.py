from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from v6ops.addr import explain

router = APIRouter(tags=["addresses"])


@router.get("/addresses/{text:path}", summary="Explain an address or prefix (same object as `v6ops addr explain --json`)")
def explain_address(text: str) -> dict[str, Any]:
    return explain(text)
