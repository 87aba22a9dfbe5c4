"""JSON Schema export of the event contract, for the portal team (`dsr schema export DIR`)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from schemas.events import DsrRequestedEvent, DsrStatusChangedEvent

__all__ = ["CONTRACT", "export_json_schemas"]

CONTRACT: dict[str, type[BaseModel]] = {
    "dsr.requested.v1": DsrRequestedEvent,
    "dsr.status_changed.v1": DsrStatusChangedEvent,
}


def export_json_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in CONTRACT.items():
        schema = model.model_json_schema(mode="validation")
        schema["$id"] = f"urn:dsr-orchestrator:schema:{name}"
        schema["title"] = name
        path = directory / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
        written.append(path)
    return written
