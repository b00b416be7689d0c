from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"  # upstream copies, provenance in its README


def crd_schema(relative: str) -> dict[str, Any]:
    """The openAPIV3Schema of an upstream CRD kept in tests/schemas."""
    crd = yaml.safe_load((SCHEMAS / relative).read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]  # type: ignore[no-any-return]


def unknown_fields(doc: Any, schema: dict[str, Any], where: str = "") -> list[str]:
    """Fields the schema does not declare (what the API server's strict field validation rejects)."""
    found: list[str] = []
    if isinstance(doc, dict) and "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
        props = schema["properties"]
        for key, value in doc.items():
            if key not in props:
                if not schema.get("additionalProperties"):
                    found.append(f"{where}.{key}")
                continue
            found += unknown_fields(value, props[key], f"{where}.{key}")
    elif isinstance(doc, list) and "items" in schema:
        for i, item in enumerate(doc):
            found += unknown_fields(item, schema["items"], f"{where}[{i}]")
    return found
