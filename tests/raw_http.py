"""A raw HTTP client of the app's Gradio API, for tests and measurements that act as hostile clients would:
any session hash they choose, hidden events called by index."""
from __future__ import annotations

import json

import httpx

TIMEOUT_S = 180


def call(url: str, api_name: str, data: list, session_hash: str, timeout: float = TIMEOUT_S) -> dict:
    """POST /gradio_api/call/<api_name> with a session hash; the final event as {"success", "data"}."""
    with httpx.Client(timeout=timeout) as http:
        r = http.post(f"{url}/gradio_api/call/{api_name}", json={"data": data, "session_hash": session_hash})
        r.raise_for_status()
        event = r.json()["event_id"]
        kind = None
        with http.stream("GET", f"{url}/gradio_api/call/{api_name}/{event}") as stream:
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    kind = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and kind in ("complete", "error"):
                    return {"success": kind == "complete", "data": json.loads(line[5:] or "null")}
    raise RuntimeError("no final event")


def queue_event(url: str, fn_index: int, data: list, session_hash: str, timeout: float = TIMEOUT_S) -> dict:
    """Join the queue for a (hidden) event by its index, as the browser does; its process_completed message."""
    body = {"data": data, "session_hash": session_hash, "fn_index": fn_index, "event_data": None, "trigger_id": None}
    with httpx.Client(timeout=timeout) as http:
        r = http.post(f"{url}/gradio_api/queue/join", json=body)
        r.raise_for_status()
        event_id = r.json()["event_id"]
        with http.stream("GET", f"{url}/gradio_api/queue/data", params={"session_hash": session_hash}) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    msg = json.loads(line[5:])
                    if msg.get("event_id") == event_id and msg.get("msg") == "process_completed":
                        return msg
    raise RuntimeError("no process_completed message")
