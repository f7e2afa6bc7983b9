#!/usr/bin/env python3
"""Every --json output of ferry held to the contract of docs/json.md, with jsonschema:

- `schema_version: 1` on the document, or on each element of an array output (status, backups);
- times RFC 3339 UTC with milliseconds (YYYY-MM-DDTHH:MM:SS.mmmZ) wherever a time key holds one;
- sizes in bytes (integers: `size`, and `bytes` in lint's findings, where `size` is a class);
- the lock holder an object {pid, run_id, operator, host, since, command} or null.
Usage: json_contract.py FILE...   (each file holds one command's stdout). Exit 0 when all hold.
"""
import json
import sys

import jsonschema

TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$"
TIME_KEYS = {"time", "started", "finished", "applied_at", "at", "since"}
LOCK = {
    "oneOf": [
        {"type": "null"},
        {
            "type": "object",
            "required": ["pid", "run_id", "operator", "host", "since", "command"],
            "properties": {
                "pid": {"type": "integer"},
                "run_id": {"type": ["string", "null"]},
                "operator": {"type": ["string", "null"]},
                "host": {"type": ["string", "null"]},
                "since": {"oneOf": [{"type": "null"}, {"type": "string", "pattern": TIME}]},
            },
        },
    ]
}
VERSIONED = {"type": "object", "required": ["schema_version"], "properties": {"schema_version": {"const": 1}}}
DOCUMENT = {"oneOf": [VERSIONED, {"type": "array", "items": VERSIONED}]}


def walk(node, path, errors):
    if isinstance(node, dict):
        for k, v in node.items():
            p = path + "." + k
            if k in TIME_KEYS and isinstance(v, str) and v:
                try:
                    jsonschema.validate(v, {"type": "string", "pattern": TIME})
                except jsonschema.ValidationError:
                    errors.append(f"{p}: '{v}' is not RFC 3339 with milliseconds")
            # lint's findings name a size class ("large") under `size`, their bytes under `bytes`
            size_key = "bytes" if ".findings[" in path else "size"
            if k == size_key and v is not None and not isinstance(v, int):
                errors.append(f"{p}: size {v!r} is not a number of bytes")
            if k == "lock_holder":
                try:
                    jsonschema.validate(v, LOCK)
                except jsonschema.ValidationError as e:
                    errors.append(f"{p}: {e.message}")
            walk(v, p, errors)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk(v, f"{path}[{i}]", errors)


def main():
    failed = False
    for name in sys.argv[1:]:
        errors = []
        try:
            doc = json.load(open(name))
            jsonschema.validate(doc, DOCUMENT)
            walk(doc, "$", errors)
        except (ValueError, jsonschema.ValidationError) as e:
            errors.append(str(e).splitlines()[0])
        for e in errors:
            print(f"{name}: {e}")
        failed |= bool(errors)
    sys.exit(1 if failed else 0)


main()
