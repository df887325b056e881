"""Events: JSON lines, crash-tolerant readers, the follower of a growing log."""

from __future__ import annotations

import dataclasses
import inspect
import json
import types
import typing
from typing import Any

from tui_lab.core.training import events
from tui_lab.core.training.events import (
    Broadcast,
    EventFollower,
    JsonlSink,
    RunFinished,
    StepLogged,
    event_from_dict,
    read_events,
)


def _step(i: int) -> StepLogged:
    return StepLogged(
        step=i,
        total_steps=10,
        epoch=i / 10,
        loss=1.0 / i,
        learning_rate=1e-3,
        grad_norm=0.5,
        samples_per_second=100.0,
        elapsed=float(i),
        eta_seconds=1.0,
    )


def _sample(hint: Any) -> Any:
    """A non-default example value of a (possibly nested, possibly Optional) type hint."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return _sample(args[0])
    if origin is list:
        return [_sample(args[0]), _sample(args[0])]
    if origin is dict:
        return {"accuracy": _sample(args[1]), "f1_macro": _sample(args[1])}
    examples = {int: 3, float: 0.25, str: "héllo", bool: True, Any: 0.5}
    return examples[hint]


def _event_classes() -> list[type]:
    return [
        cls
        for _, cls in inspect.getmembers(events, inspect.isclass)
        if issubclass(cls, events.Event) and cls is not events.Event and cls.__module__ == events.__name__
    ]


def test_every_event_round_trips_through_json() -> None:
    classes = _event_classes()
    assert len(classes) >= 9 and {c.kind for c in classes} == set(events.EVENT_TYPES)
    for cls in classes:
        hints = typing.get_type_hints(cls)
        ev = cls(**{f.name: _sample(hints[f.name]) for f in dataclasses.fields(cls)})
        line = ev.to_json()
        raw = json.loads(line)
        assert raw["event"] == cls.kind and "\n" not in line
        assert event_from_dict(raw) == ev, cls.__name__


def test_reader_tolerates_a_truncated_last_line(tmp_path) -> None:
    path = tmp_path / "events.jsonl"
    sink = JsonlSink(path)
    for i in range(1, 4):
        sink(_step(i))
    sink.close()
    with open(path, "a") as fh:
        fh.write('{"event": "step", "step": 4, "tot')  # a crash mid-write
    events = read_events(path)
    assert [e.step for e in events] == [1, 2, 3]


def test_sink_starts_a_new_line_after_a_truncated_tail(tmp_path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(_step(1).to_json() + "\n" + '{"event": "st')
    sink = JsonlSink(path)
    sink(_step(2))
    sink.close()
    assert [e.step for e in read_events(path)] == [1, 2]


def test_follower_returns_only_complete_lines(tmp_path) -> None:
    path = tmp_path / "events.jsonl"
    follower = EventFollower(path)
    assert follower.poll() == []
    line = _step(1).to_json()
    path.write_text(line[:10])
    assert follower.poll() == []
    with open(path, "a") as fh:
        fh.write(line[10:] + "\n" + _step(2).to_json() + "\n")
    assert [e.step for e in follower.poll()] == [1, 2]
    assert follower.poll() == []


def test_unknown_event_kinds_are_skipped(tmp_path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"event": "from_the_future", "x": 1}\n[1, 2]\n' + _step(1).to_json() + "\n")
    assert len(read_events(path)) == 1


def test_broadcast_drops_a_broken_sink_and_keeps_the_others() -> None:
    got = []

    def broken(event):
        raise RuntimeError("display gone")

    b = Broadcast([broken, got.append])
    fin = RunFinished(
        status="completed",
        step=1,
        epochs_completed=1,
        best=None,
        test=None,
        train_samples_per_second=1.0,
        stopped_early=False,
    )
    b(fin)
    b(fin)
    assert len(got) == 2 and len(b.errors) == 1
