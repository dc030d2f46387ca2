"""The SDK's side of the process plugin protocol, against a host played
by the test over pipes (the real host is tested in tests/process_plugins.rs)."""

import json
import os
import threading

import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from eqpipe_plugin import Cancelled, DataError, Indicator, Source, serve
from eqpipe_plugin import _rows_to_table


class Host:
    """The host's ends of two pipes, and the plugin served on a thread."""

    def __init__(self, plugin, hello):
        to_plugin_r, self._to_plugin = os.pipe()
        self._from_plugin, from_plugin_w = os.pipe()
        self._w = os.fdopen(self._to_plugin, "wb", buffering=0)
        self._r = os.fdopen(self._from_plugin, "rb")
        self.code = None
        out = os.fdopen(from_plugin_w, "wb", buffering=0)

        def go():
            self.code = serve(plugin, to_plugin_r, out)
            out.close()

        self.send(hello)
        self.thread = threading.Thread(target=go, daemon=True)
        self.thread.start()

    def send(self, header, body=b""):
        if body:
            header = dict(header, bytes=len(body))
        self._w.write(json.dumps(header).encode() + b"\n" + body)

    def receive(self):
        line = self._r.readline()
        if not line:
            return None
        h = json.loads(line)
        h["_body"] = self._r.read(h["bytes"]) if h.get("bytes") else b""
        return h

    def all(self):
        out = []
        while (m := self.receive()) is not None:
            out.append(m)
        self.thread.join(5)
        return out


RUN = {"type": "hello", "protocol": "1.0", "mode": "run", "step": "s", "options": {"token_env": "T"},
       "snapshot_date": "2026-12-01", "partner": "north", "inputs": {"people": {"columns": ["area", "n"]}}}


class Emits(Source):
    name = "emits"
    version = "1.0.0"
    produces = [{"name": "things", "version": 1, "columns": [{"name": "a", "type": "utf8"}]}]

    def run(self, ctx):
        assert ctx.partner == "north" and ctx.snapshot_date == "2026-12-01"
        assert ctx.inputs == {"people": ["area", "n"]}
        ctx.log("starting")
        ctx.emit("things", pa.table({"a": ["x", "y", "z"]}), chunk_rows=2)
        ctx.warn_coverage("rows with no area", 1, 3, "things")


def test_describe_sends_the_manifest_and_stops():
    h = Host(Emits(), {"type": "hello", "protocol": "1.0", "mode": "describe"})
    msgs = h.all()
    assert [m["type"] for m in msgs] == ["manifest"]
    m = msgs[0]
    assert m["protocol"] == "1.0"
    assert m["manifest"]["name"] == "emits" and m["manifest"]["kind"] == "source"
    assert m["manifest"]["produces"][0]["contract"]["columns"][0]["name"] == "a"
    assert h.code == 0


def test_a_run_sends_batches_as_arrow_ipc_then_done():
    h = Host(Emits(), RUN)
    msgs = h.all()
    assert [m["type"] for m in msgs] == ["manifest", "log", "batch", "batch", "warn", "done"]
    rows = []
    for m in msgs:
        if m["type"] == "batch":
            assert m["dataset"] == "things" and m["bytes"] == len(m["_body"])
            rows += ipc.open_stream(m["_body"]).read_all().column("a").to_pylist()
    assert rows == ["x", "y", "z"]
    assert msgs[4]["count"] == 1 and msgs[4]["of"] == 3


class Fetches(Source):
    name = "fetches"
    produces = ["things"]

    def run(self, ctx):
        r = ctx.fetch("https://example.org/x", secret_headers={"Authorization": ctx.options["token_env"]})
        assert r.status == 200 and r.json() == {"ok": 1}
        ctx.fetch("https://example.org/missing")


def test_fetch_is_a_request_the_host_answers(tmp_path):
    body = tmp_path / "x.json"
    body.write_text('{"ok": 1}')
    h = Host(Fetches(), RUN)
    assert h.receive()["type"] == "manifest"
    req = h.receive()
    assert req["type"] == "fetch" and req["request"]["secret_headers"] == {"Authorization": "T"}
    h.send({"type": "fetched", "id": req["id"], "response": {"path": str(body), "url": "https://example.org/x", "status": 200}})
    req2 = h.receive()
    assert req2["request"]["url"] == "https://example.org/missing" and req2["id"] != req["id"]
    h.send({"type": "error", "id": req2["id"], "message": "HTTP 404 from example.org"})
    end = h.all()
    assert end[-1]["type"] == "error" and end[-1]["kind"] == "fetch"
    assert "HTTP 404" in end[-1]["message"]


class Reads(Indicator):
    name = "reads"
    consumes = ["people"]
    produces = ["totals"]

    def run(self, ctx):
        t = ctx.open_input("people", columns=["n"]).read_all()
        ctx.emit("totals", [{"total": sum(t.column("n").to_pylist())}])


def _ipc(table):
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue().to_pybytes()


def test_an_input_is_read_batch_by_batch_on_request():
    h = Host(Reads(), RUN)
    assert h.receive()["type"] == "manifest"
    req = h.receive()
    assert req == {"type": "open_input", "id": 1, "dataset": "people", "columns": ["n"], "_body": b""}
    h.send({"type": "opened", "id": 1, "input": 7})
    for n in ([1, 2], [30]):
        nb = h.receive()
        assert nb["type"] == "next_batch" and nb["input"] == 7
        h.send({"type": "input_batch", "input": 7}, _ipc(pa.table({"n": n})))
    assert h.receive()["type"] == "next_batch"
    h.send({"type": "input_end", "input": 7})
    msgs = h.all()
    assert [m["type"] for m in msgs] == ["batch", "done"]
    assert ipc.open_stream(msgs[0]["_body"]).read_all().column("total").to_pylist() == [33]


class Waits(Source):
    name = "waits"
    produces = ["things"]

    def run(self, ctx):
        ctx.fetch("https://example.org/slow")


def test_a_cancel_while_waiting_ends_the_plugin_as_cancelled():
    h = Host(Waits(), RUN)
    assert h.receive()["type"] == "manifest"
    assert h.receive()["type"] == "fetch"
    h.send({"type": "cancel"})
    end = h.all()
    assert end[-1]["type"] == "error" and end[-1]["kind"] == "cancelled"


class Fails(Source):
    name = "fails"
    produces = ["things"]

    def run(self, ctx):
        raise DataError("column `area` is missing from page 3")


class Buggy(Source):
    name = "buggy"
    produces = ["things"]

    def run(self, ctx):
        return 1 / 0


def test_errors_are_reported_with_their_kind_and_a_bug_with_where_it_happened():
    end = Host(Fails(), RUN).all()[-1]
    assert end == {"type": "error", "kind": "data", "message": "column `area` is missing from page 3", "_body": b""}
    end = Host(Buggy(), RUN).all()[-1]
    assert end["kind"] == "internal" and end["message"].startswith("ZeroDivisionError")
    assert "test_protocol.py:" in end["message"]


def test_rows_of_mixed_types_go_as_text_for_the_host_to_parse():
    t = _rows_to_table([{"a": "x", "n": 3}, {"a": "y", "n": "1,500"}, {"a": None}])
    assert t.column("a").to_pylist() == ["x", "y", None]
    assert t.column("n").type == pa.string()
    assert t.column("n").to_pylist() == ["3", "1,500", None]
    assert _rows_to_table([{"n": 1}, {"n": 2}]).column("n").type == pa.int64()


def test_emit_refuses_what_it_cannot_send():
    class Odd(Source):
        name = "odd"
        produces = ["things"]

        def run(self, ctx):
            ctx.emit("things", 42)

    end = Host(Odd(), RUN).all()[-1]
    assert end["type"] == "error" and "TypeError" in end["message"]
