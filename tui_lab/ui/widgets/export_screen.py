"""The Export screen (F8): export a run to ONNX, read its trade-off table, serve it.

``e`` exports the run under the cursor in a thread worker (the core's :func:`export`) and shows
the table of PyTorch fp32 / ONNX fp32 / ONNX int8 it measured, with the trade-off drawn beside it
as bars (throughput and size per variant); ``o`` adds OpenVINO int8 (NNCF) beside them, where
OpenVINO is installed; a distilled run is exported and measured beside its
teacher (:func:`~tui_lab.core.deploy.compare.export_run`), six variants, deltas against the teacher. ``s`` starts ``tui-lab serve`` on
that run's export in a child process (127.0.0.1, a free port) or stops it (SIGTERM: in-flight
requests finish); the URL and the live request count (read from its ``/metrics``) are shown.
A server outlives this screen and stops when the lab exits.
"""

from __future__ import annotations

import atexit
import json
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import Worker, WorkerState

from tui_lab.core.training.runs import RunInfo, list_runs, model_label

REPORT = "export_report.json"
OPENVINO_FORMATS = "all,openvino-int8"  # o: ONNX fp32 and int8, and OpenVINO int8, side by side
_SERVERS: dict[str, tuple[subprocess.Popen, str]] = {}  # run path -> (process, url)


def _stop_all() -> None:
    for proc, _ in _SERVERS.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)


atexit.register(_stop_all)


def free_port(start: int = 8080) -> int:
    """The first port from ``start`` that 127.0.0.1 can bind."""
    for port in range(start, start + 100):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise OSError("no free port between 8080 and 8179")


def request_count(url: str) -> int | None:
    """Requests answered so far, from the server's ``/metrics``; None when it does not answer."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=1) as response:
            text = response.read().decode()
    except OSError:
        return None
    for family in text_string_to_metric_families(text):
        if family.name == "tui_lab_requests":
            return int(sum(s.value for s in family.samples if s.name == "tui_lab_requests_total"))
    return 0


BLOCKS = " ▏▎▍▌▋▊▉█"  # eighths of a cell


def bar(value: float, top: float, width: int) -> str:
    """A horizontal bar ``value / top`` of ``width`` cells (``top``: the whole width), to an eighth
    of a cell."""
    eighths = round(8 * width * value / top) if top > 0 else 0
    full, part = divmod(max(eighths, 1 if value > 0 else 0), 8)
    return "█" * full + (BLOCKS[part] if part else "")


SECTIONS = (  # title, the report's key, how a value is written, colour
    ("throughput (samples/s)", "throughput_sps", "{:.0f}", "green"),
    ("size (MB)", "size_mb", "{:.1f}", "cyan"),
)


def tradeoff_bars(variants: list[dict[str, Any]], width: int, height: int = 0) -> Text:
    """Throughput and size of each variant (the export report's ``variants``) as horizontal bars.

    Each line is at most ``width`` cells, a bar's value written at its end; bars are two lines
    thick when the picture still fits in ``height`` lines (0: one line a bar). Where the two
    sections one above the other do not fit in ``height`` (80x24) they go side by side.
    """
    n = len(variants)
    thick = 1
    while thick < 2 and height >= len(SECTIONS) * (2 + n * (thick + 1) + n - 1):
        thick += 1
    stacked = len(SECTIONS) * (1 + n) + len(SECTIONS) - 1
    if 0 < height < stacked and height >= 1 + n and width >= 2 * SIDE_BY_SIDE_MIN + 2:
        column = (width - 2) // 2
        left, right = (_section(variants, section, column, 1) for section in SECTIONS)
        return Text("\n").join(a + " " * (column - a.cell_len + 2) + b for a, b in zip(left, right))
    lines: list[Text] = []
    for k, section in enumerate(SECTIONS):
        lines += ([Text()] if k else []) + _section(variants, section, width, thick)
    return Text("\n").join(lines)


SIDE_BY_SIDE_MIN = 30  # the narrowest column a section is drawn in beside the other


def _section(
    variants: list[dict[str, Any]], section: tuple[str, str, str, str], width: int, thick: int
) -> list[Text]:
    """One section's lines (its title, then a bar ``thick`` lines high a variant), each at most
    ``width`` cells."""
    title, key, fmt, colour = section
    name_w = max(len(v["name"]) for v in variants)
    values = [fmt.format(v[key]) for v in variants]
    bar_w = max(4, width - name_w - max(map(len, values)) - 2)
    top = max(v[key] for v in variants)
    lines = [Text(title[:width], "bold")]
    for i, (v, shown) in enumerate(zip(variants, values)):
        if thick > 1 and i:
            lines.append(Text())  # a gap between thick bars
        for line in range(thick):
            middle = line == thick // 2  # the name and the value sit on the middle line
            row = Text(f"{v['name']:<{name_w}} " if middle else " " * (name_w + 1))
            row.append(bar(v[key], top, bar_w), colour)
            row.append(f" {shown}" if middle else "")
            lines.append(row)
    return lines


class TradeoffBars(Static):
    """The trade-off table as a picture; redrawn to its size when the screen is resized."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("", **kwargs)
        self.variants: list[dict[str, Any]] = []

    def show(self, variants: list[dict[str, Any]]) -> None:
        """Draw these variants (none: empty)."""
        self.variants = variants
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        size = self.content_size
        bars = tradeoff_bars(self.variants, size.width or 30, size.height) if self.variants else ""
        self.update(bars)


class ExportScreen(Screen[None]):
    """Runs on top, the selected run's trade-off table and bars and its server below."""

    BINDINGS = [
        Binding("escape,f8", "close", "Back"),
        Binding("e", "export", "Export"),
        Binding("o", "export_openvino", "+OpenVINO"),
        Binding("s", "serve", "Serve/stop"),
        Binding("r", "refresh", "Refresh"),
    ]
    DEFAULT_CSS = """
    ExportScreen #export-box { height: 1fr; }
    ExportScreen #export-runs { height: auto; max-height: 12; }
    ExportScreen #export-status { margin-top: 1; }
    ExportScreen #export-results { height: 1fr; }
    ExportScreen #export-table { width: auto; }
    ExportScreen #export-bars { width: 1fr; height: 1fr; padding-left: 2; }
    ExportScreen.-narrow #export-results { layout: vertical; }
    ExportScreen.-narrow #export-table { width: 1fr; }
    ExportScreen.-narrow #export-bars { padding: 1 0 0 0; }
    ExportScreen.-narrow.-pair #export-results { overflow-y: auto; }
    ExportScreen.-narrow.-pair #export-bars { height: auto; }
    """
    NARROW = 118  # under this many columns the bars go under the table: beside it they would not fit
    NARROW_PAIR = 150  # the same for a student beside its teacher (longer names, wider table)

    def __init__(self, output_dir: str) -> None:
        super().__init__()
        self.output_dir = output_dir
        self.runs: list[RunInfo] = []
        self.exporting: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="export-box", classes="pane"):
            yield Static("", id="export-hint")
            yield DataTable(id="export-runs", cursor_type="row", zebra_stripes=True)
            yield Static("", id="export-status")
            with Horizontal(id="export-results"):
                yield DataTable(id="export-table", cursor_type="none", zebra_stripes=True)
                yield TradeoffBars(id="export-bars")
            yield Static("", id="export-server")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#export-box").border_title = Content(f"Export runs in {self.output_dir}/  [F8]")
        runs = self.query_one("#export-runs", DataTable)
        for name in ("run", "status", "model", "accuracy", "export"):
            runs.add_column(name, key=name)
        _set_columns(self.query_one("#export-table", DataTable), COLUMNS)
        hint = "e: export (ONNX fp32 + int8, measured) · o: + OpenVINO int8 · s: serve / stop · esc: back"
        self.query_one("#export-hint", Static).update(Text(hint, style="dim"))
        self.action_refresh()
        self.set_interval(1.0, self._poll_server)
        runs.focus()

    def on_resize(self, event: Resize) -> None:
        self._fit(event.size.width)

    def _fit(self, width: int) -> None:
        """Bars beside the table when both fit in ``width`` columns, else under it."""
        self.set_class(width < (self.NARROW_PAIR if self.has_class("-pair") else self.NARROW), "-narrow")

    def action_refresh(self) -> None:
        """Read the runs again."""
        table = self.query_one("#export-runs", DataTable)
        cursor = table.cursor_row
        self.runs = list_runs(self.output_dir)
        table.clear()
        for r in self.runs:
            exported = "yes" if (Path(r.path) / "export" / REPORT).exists() else "-"
            acc = f"{r.best['accuracy']:.4f}" if "accuracy" in r.best else "-"
            table.add_row(r.name, r.status, r.model[:24], acc, exported, key=r.path)
        if self.runs:
            table.move_cursor(row=min(max(cursor, 0), len(self.runs) - 1))
        self._show_selected()

    def _selected(self) -> RunInfo | None:
        table = self.query_one("#export-runs", DataTable)
        if not self.runs or table.cursor_row < 0:
            return None
        return self.runs[min(table.cursor_row, len(self.runs) - 1)]

    @on(DataTable.RowHighlighted, "#export-runs")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_selected()

    def _show_selected(self) -> None:
        run = self._selected()
        report = Path(run.path) / "export" / REPORT if run else None
        table = self.query_one("#export-table", DataTable)
        table.clear()
        self.query_one(TradeoffBars).show([])
        self.remove_class("-pair")
        if report is None or not report.exists():
            status = "no run selected" if run is None else f"{run.name}: not exported yet (press e)"
            self.query_one("#export-status", Static).update(status)
            self._poll_server()
            return
        data = json.loads(report.read_text(encoding="utf-8"))
        pair = "teacher" in data
        variants = [v | {"name": variant_label(v)} for v in data["variants"]]
        self.set_class(pair, "-pair")
        self._fit(self.size.width)
        _set_columns(table, PAIR_COLUMNS if pair else COLUMNS)
        for v in variants:
            table.add_row(*_cells(v, pair))
        self.query_one(TradeoffBars).show(variants)
        status = f"{data['out']}  ·  {data['n']} dev texts, {data['threads']} thread(s)"
        logits = f"max |Δ logit| onnx vs pytorch {data['onnx_max_abs_logit_diff']:.1e}"
        if pair:
            teacher = model_label(data["teacher"]["path"])
            logits = f"beside its teacher {teacher} (Δ: against its pytorch)  ·  {logits}"
        status += ("\n" if pair else "  ·  ") + logits
        self.query_one("#export-status", Static).update(status)
        self._poll_server()

    def action_export(self, fmt: str = "all") -> None:
        """Export the selected run in a worker (seconds to a minute: it also measures)."""
        run = self._selected()
        if run is None or self.exporting:
            return
        self.exporting = run.path
        what = "ONNX and OpenVINO" if "openvino" in fmt else "ONNX"
        self.query_one("#export-status", Static).update(
            f"exporting {run.name} to {what}… (export, check, measure)"
        )
        self._export(run.path, fmt)

    def action_export_openvino(self) -> None:
        """Export to ONNX fp32/int8 and OpenVINO int8 (NNCF), all measured side by side."""
        from tui_lab.core.deploy import openvino

        if not openvino.available():
            message = f"OpenVINO int8 needs OpenVINO and NNCF: {openvino.INSTALL}"
            self.notify(message, severity="warning", timeout=6, markup=False)  # '[openvino]' is no tag
            return
        self.action_export(OPENVINO_FORMATS)

    @work(thread=True, exclusive=True, exit_on_error=False, group="export", description="export a run")
    def _export(self, run_path: str, fmt: str = "all") -> dict[str, Any]:
        from tui_lab.core.deploy.compare import export_run

        return export_run(run_path, rounds=3, fmt=fmt)

    @on(Worker.StateChanged)
    def _export_done(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "export" or event.state not in (WorkerState.SUCCESS, WorkerState.ERROR):
            return
        self.exporting = None
        if event.state == WorkerState.ERROR:
            self.notify(str(event.worker.error), severity="error", timeout=8, markup=False)
        self.action_refresh()

    def action_serve(self) -> None:
        """Start a server on the selected run's export, or stop the one running."""
        run = self._selected()
        if run is None:
            return
        running = _SERVERS.get(run.path)
        if running and running[0].poll() is None:
            running[0].send_signal(signal.SIGTERM)
            _SERVERS.pop(run.path)
            self.notify(f"stopping the server of {run.name}", timeout=3)
        elif not (Path(run.path) / "export" / "model.onnx").exists():
            self.notify("export the run first (press e)", severity="warning", timeout=4)
        else:
            port = free_port()
            cmd = [
                sys.executable,
                "-m",
                "tui_lab",
                "serve",
                str(Path(run.path) / "export"),
                "--port",
                str(port),
            ]
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _SERVERS[run.path] = (proc, f"http://127.0.0.1:{port}")
        self._poll_server()

    def _poll_server(self) -> None:
        run = self._selected()
        line = Text("no server · s: serve the selected run's export on 127.0.0.1", style="dim")
        server = _SERVERS.get(run.path) if run else None
        if server is not None:
            proc, url = server
            if proc.poll() is not None:
                line = Text(f"server exited with code {proc.returncode}", style="red")
            else:
                self._count(url)
                return
        self.query_one("#export-server", Static).update(line)

    @work(thread=True, exclusive=True, exit_on_error=False, group="metrics", description="server metrics")
    def _count(self, url: str) -> None:
        count = request_count(url)
        state = "starting…" if count is None else f"{count} request(s) answered"
        text = Text.assemble(("serving ", "green"), (url, "bold"), f"  ·  POST {url}/predict  ·  {state}")
        self.app.call_from_thread(self._show_server, text)

    def _show_server(self, text: Text) -> None:
        if self.is_attached:
            self.query_one("#export-server", Static).update(text)

    def action_close(self) -> None:
        """Back to the lab (a running server goes on)."""
        self.dismiss(None)


COLUMNS = ("variant", "size MB", "accuracy", "macro-F1", "p50 ms", "p95 ms", "samples/s")
PAIR_COLUMNS = ("variant", "size MB", "accuracy", "p50 ms", "p95 ms", "samples/s")  # 80 columns wide


def _set_columns(table: DataTable, names: tuple[str, ...]) -> None:
    """Give the (cleared) table these columns, unless it has them already."""
    if tuple(str(key.value) for key in table.columns) != names:
        table.clear(columns=True)
        for name in names:
            table.add_column(name, key=name)


def _cells(v: dict[str, Any], pair: bool) -> list[str]:
    """A variant's row; beside a teacher without macro-F1 (the table then fits 80 columns)."""
    f1 = [] if pair else [_with_delta(v["f1_macro"], v["f1_macro_delta"])]
    accuracy = _with_delta(v["accuracy"], v["accuracy_delta"])
    times = [f"{v['latency_ms_p50']:.2f}", f"{v['latency_ms_p95']:.2f}", f"{v['throughput_sps']:.0f}"]
    return [v["name"], f"{v['size_mb']:.2f}", accuracy, *f1, *times]


def variant_label(variant: dict[str, Any]) -> str:
    """``onnx-int8``, or ``student onnx-int8`` in a report of a student beside its teacher."""
    return f"{variant['model']} {variant['name']}" if "model" in variant else variant["name"]


def _with_delta(value: float | None, delta: float | None) -> str:
    """``0.9100 (+0.0000)``, or ``-`` where the export skipped accuracy (a token classifier)."""
    return "-" if value is None else f"{value:.4f} ({delta:+.4f})"
