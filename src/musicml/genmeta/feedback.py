"""Merging a feedback log onto records: the last write per generationId wins."""

from __future__ import annotations

from typing import Any, Iterable

FEEDBACK_FIELDS = ("liked", "rating", "feedback", "used")


def merge_feedback(records: list[dict[str, Any]], events: Iterable[dict[str, Any]]) -> tuple[list[dict], dict]:
    """Apply feedback events to records.

    Events are ordered by their ``at`` time, ties and untimed events in log
    order (untimed events count as older than timed ones); for each generationId
    the last event replaces the record's ``userFeedback`` whole. Events for
    ids that match no record are counted, not applied.

    Returns
    -------
    records : list of dict
        Copies of the records, ``userFeedback`` set where an event applied.
    summary : dict
        events, applied (records updated), superseded (events overridden by a
        later one), unknown_events, unknown_ids.
    """
    by_id = {r["generationId"]: i for i, r in enumerate(records)}
    indexed = list(enumerate(events))
    # Stable: equal (or missing) timestamps keep log order.
    indexed.sort(key=lambda pair: (pair[1].get("at") or "", pair[0]))
    latest: dict[str, dict] = {}
    unknown_events, unknown_ids = 0, set()
    for _, event in indexed:
        gid = event["generationId"]
        if gid not in by_id:
            unknown_events += 1
            unknown_ids.add(gid)
            continue
        latest[gid] = event
    known_events = len(indexed) - unknown_events
    out = [dict(r) for r in records]
    for gid, event in latest.items():
        out[by_id[gid]]["userFeedback"] = {k: event[k] for k in FEEDBACK_FIELDS if event.get(k) is not None}
    return out, {"events": len(indexed), "applied": len(latest), "superseded": known_events - len(latest),
                 "unknown_events": unknown_events, "unknown_ids": len(unknown_ids)}
