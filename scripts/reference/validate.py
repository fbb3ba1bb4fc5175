"""Validates JSON captured from our server with the Python reference's own pydantic types.

Usage (from the repository root, after ``scripts/reference/regenerate-fixtures.sh`` has made the
virtualenv)::

    .venv/bin/python scripts/reference/validate.py [--strict] PATH [PATH ...]

Each PATH is a ``.jsonl`` file (one record per line; blank lines and lines starting with ``#`` are
skipped), a ``.json`` file (one record, or a JSON array of records), or a directory searched
recursively for both.

A record is an object::

    {"kind": KIND, "json": VALUE, "name": "optional label used in reports"}

where KIND says what VALUE is and which reference type checks it:

    event         one SSE event payload          TypeAdapter(ThreadStreamEvent)
    thread        threads.get_by_id / .update    Thread
    page_threads  threads.list                   Page[Thread]
    page_items    items.list                     Page[ThreadItem]
    attachment    attachments.create             Attachment
    sync_action   threads.sync_custom_action     SyncCustomActionResponse
    empty         items.feedback, threads.delete, attachments.delete: must be exactly {}
    item          one thread item                ThreadItem
    request       one request body               ChatKitReq
    transcription input.transcribe               TranscriptionResult

A record of kind ``sse`` carries the raw body of a streaming response in ``"text"`` instead of
``"json"``; each ``data:`` frame is checked as an ``event``.

Checks, for every record:

* the value validates against the reference type (the reference's clients would accept it);
* no hidden-context item (``hidden_context_item``, ``sdk_hidden_context``) appears in anything sent
  to a client;
* with ``--strict``: the reference, re-serializing the value the way its server does
  (``by_alias=True, exclude_none=True``), writes back exactly the same JSON, so we send no field it
  would not send and every field in its form. Timestamps are compared as instants.

Prints one line per failure and a summary; exits 1 if any record failed, 2 on unusable input.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

warnings.filterwarnings("ignore", category=DeprecationWarning)

from pydantic import TypeAdapter, ValidationError  # noqa: E402

from chatkit import types as t  # noqa: E402

ADAPTERS: dict[str, TypeAdapter] = {
    "event": TypeAdapter(t.ThreadStreamEvent),
    "thread": TypeAdapter(t.Thread),
    "page_threads": TypeAdapter(t.Page[t.Thread]),
    "page_items": TypeAdapter(t.Page[t.ThreadItem]),
    "attachment": TypeAdapter(t.Attachment),
    "sync_action": TypeAdapter(t.SyncCustomActionResponse),
    "item": TypeAdapter(t.ThreadItem),
    "request": TypeAdapter(t.ChatKitReq),
    "transcription": TypeAdapter(t.TranscriptionResult),
}
CLIENT_FACING = {"event", "thread", "page_threads", "page_items", "sync_action", "item"}
HIDDEN_ITEM_TYPES = {"hidden_context_item", "sdk_hidden_context"}
DUMP_OPTIONS: dict[str, Any] = {
    "by_alias": True,
    "exclude_none": True,
    "context": {"exclude_metadata": True},
}


class InputError(Exception):
    """The input files cannot be read as records."""


def records_from(path: Path) -> Iterator[tuple[str, Any]]:
    """Yields (location, record) for every record in a file or directory."""
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            if child.suffix in {".json", ".jsonl"} and child.is_file():
                yield from records_from(child)
        return
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"{path}: {error}") from error
    if path.suffix == ".jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip() and not line.lstrip().startswith("#"):
                try:
                    yield f"{path}:{number}", json.loads(line)
                except json.JSONDecodeError as error:
                    raise InputError(f"{path}:{number}: not JSON: {error}") from error
        return
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: not JSON: {error}") from error
    if isinstance(value, list):
        for index, record in enumerate(value):
            yield f"{path}[{index}]", record
    else:
        yield str(path), value


def sse_payloads(text: str) -> Iterator[str]:
    """The data of each SSE message in a stream body (WHATWG framing, comments skipped)."""
    data: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line == "":
            if data:
                yield "\n".join(data)
            data = []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            if field == "data":
                data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


def hidden_items(value: Any, path: str = "$") -> Iterator[str]:
    """JSON paths of hidden-context items anywhere in `value`."""
    if isinstance(value, dict):
        if value.get("type") in HIDDEN_ITEM_TYPES and "thread_id" in value:
            yield path
        for key, child in value.items():
            yield from hidden_items(child, f"{path}.{key}")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from hidden_items(child, f"{path}[{index}]")


def normalized(value: Any) -> Any:
    """`value` with ISO-8601 timestamps replaced by their instant, for comparing dumps."""
    if isinstance(value, dict):
        return {key: normalized(child) for key, child in value.items()}
    if isinstance(value, list):
        return [normalized(child) for child in value]
    if isinstance(value, str) and len(value) >= 19 and value[4:5] == "-" and value[10:11] in {"T", " "}:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        return ("timestamp", parsed.timestamp() if parsed.tzinfo else parsed.isoformat())
    return value


def first_difference(expected: Any, actual: Any, path: str = "$") -> str | None:
    """Where two JSON values first differ, described for a report."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in expected.keys() | actual.keys():
            if key not in actual:
                return f"{path}.{key}: the reference writes it, we do not"
            if key not in expected:
                return f"{path}.{key}: we write it, the reference does not"
            found = first_difference(expected[key], actual[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return f"{path}: {len(actual)} elements, the reference writes {len(expected)}"
        for index, (left, right) in enumerate(zip(expected, actual)):
            found = first_difference(left, right, f"{path}[{index}]")
            if found:
                return found
        return None
    if expected != actual or type(expected) is not type(actual):
        return f"{path}: we write {json.dumps(actual)}, the reference writes {json.dumps(expected)}"
    return None


def check(kind: str, value: Any, strict: bool) -> list[str]:
    """Problems with one value of `kind`; empty when it passes."""
    if kind == "empty":
        return [] if value == {} else [f"expected {{}}, got {json.dumps(value)[:200]}"]
    adapter = ADAPTERS.get(kind)
    if adapter is None:
        return [f"unknown kind {kind!r}"]
    problems: list[str] = []
    try:
        parsed = adapter.validate_python(value)
    except ValidationError as error:
        for detail in error.errors():
            location = ".".join(str(part) for part in detail["loc"]) or "$"
            problems.append(f"{location}: {detail['msg']}")
        return problems
    if kind in CLIENT_FACING:
        problems.extend(f"{path}: hidden-context item sent to a client" for path in hidden_items(value))
    if strict:
        dumped = json.loads(adapter.dump_json(parsed, **DUMP_OPTIONS))
        difference = first_difference(normalized(dumped), normalized(value))
        if difference:
            problems.append(difference)
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, help=".json/.jsonl files or directories")
    parser.add_argument("--strict", action="store_true", help="also require the reference's exact JSON")
    args = parser.parse_args()

    checked = 0
    failures: list[str] = []
    try:
        for path in args.paths:
            if not path.exists():
                raise InputError(f"{path}: no such file or directory")
            for location, record in records_from(path):
                if not isinstance(record, dict) or "kind" not in record:
                    raise InputError(f"{location}: a record is an object with a `kind`")
                label = f"{location}" + (f" ({record['name']})" if record.get("name") else "")
                kind = record["kind"]
                if kind == "sse":
                    text = record.get("text")
                    if not isinstance(text, str):
                        raise InputError(f"{location}: an `sse` record carries the stream in `text`")
                    for index, payload in enumerate(sse_payloads(text)):
                        checked += 1
                        try:
                            value = json.loads(payload)
                        except json.JSONDecodeError as error:
                            failures.append(f"{label} frame {index}: not JSON: {error}")
                            continue
                        for problem in check("event", value, args.strict):
                            failures.append(f"{label} frame {index}: {problem}")
                    continue
                if "json" not in record:
                    raise InputError(f"{location}: a `{kind}` record carries its value in `json`")
                checked += 1
                for problem in check(kind, record["json"], args.strict):
                    failures.append(f"{label} [{kind}]: {problem}")
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    for failure in failures:
        print(f"FAIL {failure}")
    print(f"{checked} values checked, {len(failures)} problems")
    if checked == 0:
        print("error: no records found", file=sys.stderr)
        return 2
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
