"""The baseline of benchmarks/api_load.py: a plain FastAPI hello-world, served by the same uvicorn the same way."""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
def hello() -> dict[str, str]:
    return {"hello": "world"}


@app.get("/health")
def health() -> dict[str, str]:
    """So the benchmark waits for both servers the same way."""
    return {"status": "ok"}
