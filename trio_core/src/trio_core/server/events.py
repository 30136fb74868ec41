"""``/v1/events``: the event store over HTTP (what ``trio events`` reads), with each event's snapshot."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from ..errors import ConfigError
from ..watch.event_store import parse_time
from .errors import APIError

router = APIRouter(tags=["events"])
SQLITE_MAX = 2**63 - 1  # the largest id SQLite stores; a larger one is the client's mistake (422), not a crash
EventId = Path(ge=1, le=SQLITE_MAX, description="The event's id.")


def _time(value: str | None, name: str) -> float | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except ConfigError as error:
        raise APIError(400, str(error), param=name) from None


@router.get("/v1/events")
async def list_events(
    request: Request,
    watch: str | None = Query(None, max_length=64, description="Only this watch's events."),
    condition: str | None = Query(None, max_length=64, description="Only this condition's events."),
    since: str | None = Query(None, max_length=64, description="Started at or after: ISO 8601 or an age (2h, 7d)."),
    until: str | None = Query(None, max_length=64, description="Started before: ISO 8601 or an age."),
    before: int | None = Query(
        None, ge=1, le=SQLITE_MAX, description="Only events older than this id (the next page)."
    ),
    limit: int = Query(50, ge=1, le=1000),
):
    """Events, newest first; page with ``before`` = the last id of a page."""
    store = request.app.state.alerts.store
    found = await run_in_threadpool(
        store.query, watch=watch, condition=condition, since=_time(since, "since"), until=_time(until, "until"),
        before=before, limit=limit,
    )  # fmt: skip
    for event in found:
        _link(event)
    return {"events": found, "next_before": found[-1]["id"] if len(found) == limit else None}


@router.get("/v1/events/{event_id}")
async def get_event(request: Request, event_id: int = EventId):
    """One event."""
    event = await run_in_threadpool(request.app.state.alerts.store.get, event_id)
    if event is None:
        raise APIError(404, f"No event {event_id}.")
    return _link(event)


@router.get("/v1/events/{event_id}/snapshot.jpg", response_class=FileResponse,
            responses={200: {"content": {"image/jpeg": {}}}})  # fmt: skip
async def get_snapshot(request: Request, event_id: int = EventId):
    """The alert's frame, as it was analysed."""
    path = await run_in_threadpool(request.app.state.alerts.store.snapshot, event_id)
    if path is None:
        raise APIError(404, f"Event {event_id} has no snapshot (no such event, or retention removed it).")
    return FileResponse(path, media_type="image/jpeg")


def _link(event: dict) -> dict:
    """The snapshot as the API's URL, not the store's file name."""
    event["snapshot_url"] = f"/v1/events/{event['id']}/snapshot.jpg" if event.pop("snapshot") else None
    return event
