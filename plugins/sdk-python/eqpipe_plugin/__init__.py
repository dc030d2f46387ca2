"""Write eqpipe plugins in Python.

A plugin is a script that eqpipe starts (``[[sources]] command =
["python3", "my_source.py"]``) and talks to over the process plugin
protocol (version 1.0, specified in ``plugins/sdk/GUIDE.md``, section 10). This package
speaks the protocol for you::

    from eqpipe_plugin import Source, run

    class Referrals(Source):
        name = "vcs-referrals"
        version = "0.1.0"
        produces = ["vcs_referrals"]

        def run(self, ctx):
            page = ctx.fetch(ctx.options["url"]).json()
            ctx.emit("vcs_referrals", pyarrow.Table.from_pylist(page["rows"]))

    if __name__ == "__main__":
        run(Referrals())

Everything the plugin emits is validated by the host against the
dataset's contract, rejected rows are quarantined, and published figures
pass the host's disclosure control: a plugin never writes files itself.
Nothing printed to stdout can corrupt the protocol: ``run`` keeps stdout
for the protocol and points ``print`` at stderr, which the host logs.
"""

from __future__ import annotations

import io
import json
import os
import select
import sys
import traceback
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Union

__all__ = [
    "PROTOCOL",
    "Plugin",
    "Source",
    "Indicator",
    "Context",
    "FetchResponse",
    "Input",
    "PluginError",
    "ConfigError",
    "DataError",
    "FetchError",
    "Cancelled",
    "ProtocolError",
    "run",
]

#: The protocol version this SDK speaks.
PROTOCOL = "1.0"


class PluginError(Exception):
    """A failure the plugin reports to the host: the step fails with this
    message (which must never hold a person's data)."""

    kind = "internal"


class ConfigError(PluginError):
    """The options cannot be used."""

    kind = "config"


class DataError(PluginError):
    """The data is not what the plugin can read."""

    kind = "data"


class FetchError(PluginError):
    """The host could not fetch what was asked for (its message says why)."""

    kind = "fetch"


class Cancelled(PluginError):
    """The run was cancelled: stop and let the exception propagate."""

    kind = "cancelled"


class ProtocolError(PluginError):
    """The host said something this SDK does not understand."""

    kind = "internal"


class _Channel:
    """Messages on two file descriptors: one JSON header line, then the
    bytes its ``bytes`` key promises."""

    def __init__(self, read_fd: int, write: io.RawIOBase):
        self._fd = read_fd
        self._buf = bytearray()
        self._out = write

    def send(self, header: Dict[str, Any], body: bytes = b"") -> None:
        if body:
            header = dict(header, bytes=len(body))
        self._out.write(json.dumps(header, separators=(",", ":")).encode() + b"\n")
        if body:
            self._out.write(body)
        self._out.flush()

    def _fill(self) -> bool:
        chunk = os.read(self._fd, 1 << 16)
        if not chunk:
            return False
        self._buf.extend(chunk)
        return True

    def ready(self) -> bool:
        """A message (or its start) is waiting."""
        if self._buf:
            return True
        r, _, _ = select.select([self._fd], [], [], 0)
        return bool(r)

    def receive(self) -> Optional[Dict[str, Any]]:
        """The next message (its body under ``_body``); None at the end."""
        while b"\n" not in self._buf:
            if not self._fill():
                return None
        i = self._buf.index(b"\n")
        line = bytes(self._buf[:i])
        del self._buf[: i + 1]
        header = json.loads(line)
        n = int(header.get("bytes", 0))
        while len(self._buf) < n:
            if not self._fill():
                raise ProtocolError("the host closed the stream inside a message")
        header["_body"] = bytes(self._buf[:n])
        del self._buf[:n]
        return header


class FetchResponse:
    """What the host fetched: a local file (in its cache, or the file
    itself for paths and ``file://`` URLs). Read it; do not modify it."""

    def __init__(self, answer: Mapping[str, Any]):
        #: The local file holding the body.
        self.path: str = answer["path"]
        #: The URL fetched, with secrets redacted.
        self.url: str = answer.get("url", "")
        #: HTTP status (200 for files).
        self.status: int = int(answer.get("status", 200))
        #: Body size in bytes.
        self.bytes: int = int(answer.get("bytes", 0))
        #: Served from the host's cache without a request.
        self.from_cache: bool = bool(answer.get("from_cache", False))
        #: Everything the host said.
        self.raw: Mapping[str, Any] = answer

    def read_bytes(self) -> bytes:
        """The body."""
        with open(self.path, "rb") as f:
            return f.read()

    def text(self, encoding: str = "utf-8") -> str:
        """The body as text (``encoding="cp1252"`` for Windows files)."""
        return self.read_bytes().decode(encoding)

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.read_bytes())


class Input:
    """One of an indicator's input datasets, read batch by batch from the
    host (``for batch in ctx.open_input("x")``) or whole (``read_all``)."""

    def __init__(self, ctx: "Context", name: str, handle: int):
        self._ctx = ctx
        self.name = name
        self._handle = handle
        self._done = False

    def __iter__(self) -> Iterator[Any]:
        import pyarrow.ipc as ipc

        while not self._done:
            msg = self._ctx._request({"type": "next_batch", "input": self._handle}, expect=("input_batch", "input_end"))
            if msg["type"] == "input_end":
                self._done = True
                return
            with ipc.open_stream(msg["_body"]) as r:
                for b in r:
                    yield b

    def read_all(self) -> Any:
        """The whole input as a ``pyarrow.Table`` (its schema kept when it
        has no rows)."""
        import pyarrow as pa

        batches = list(self)
        if batches:
            return pa.Table.from_batches(batches)
        return pa.table({c: pa.array([], pa.string()) for c in self._ctx.inputs.get(self.name, [])})


class Context:
    """What a running plugin may reach: its options, the host's fetch,
    its inputs, and the host's log, progress and coverage warnings."""

    def __init__(self, channel: _Channel, hello: Mapping[str, Any]):
        self._ch = channel
        #: The plugin's options (already checked against its schema).
        self.options: Dict[str, Any] = dict(hello.get("options") or {})
        #: The step's name (the source name or the indicator output).
        self.step: str = hello.get("step", "")
        #: The data period the run covers, ``YYYY-MM-DD``.
        self.snapshot_date: str = hello.get("snapshot_date", "")
        #: The partner the step belongs to (None outside a partnership).
        self.partner: Optional[str] = hello.get("partner") or None
        #: The step writes personal data.
        self.personal: bool = bool(hello.get("personal", False))
        #: The step's inputs: dataset name -> column names.
        self.inputs: Dict[str, List[str]] = {k: list(v.get("columns", [])) for k, v in (hello.get("inputs") or {}).items()}
        self._cancelled = False
        self._ids = 0

    # -- requests ---------------------------------------------------------

    def _request(self, header: Dict[str, Any], expect: Sequence[str]) -> Dict[str, Any]:
        self._ch.send(header)
        while True:
            msg = self._ch.receive()
            if msg is None:
                raise Cancelled("the host went away")
            t = msg.get("type")
            if t == "cancel":
                self._cancelled = True
                raise Cancelled("the run was cancelled")
            if t == "error":
                return msg
            if t in expect:
                return msg
            raise ProtocolError(f"expected {' or '.join(expect)} from the host, got {t!r}")

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def fetch(
        self,
        url: str,
        *,
        headers: Optional[Mapping[str, str]] = None,
        secret_headers: Optional[Mapping[str, str]] = None,
        secret_query: Optional[Mapping[str, str]] = None,
        max_bytes: Optional[int] = None,
    ) -> FetchResponse:
        """Fetches ``url`` (``https://``, ``http://``, ``file://`` or a path
        relative to the config) through the host: its cache, retries, rate
        limits and partner scoping.

        ``secret_headers`` and ``secret_query`` map a header or query
        parameter to the *name* of an environment variable the host reads;
        the value never reaches the plugin, and the variable must be one
        the plugin's options name (an option key ending in ``_env``).
        Raises ``FetchError`` with the host's reason.
        """
        req: Dict[str, Any] = {"url": url}
        if headers:
            req["headers"] = dict(headers)
        if secret_headers:
            req["secret_headers"] = dict(secret_headers)
        if secret_query:
            req["secret_query"] = dict(secret_query)
        if max_bytes is not None:
            req["max_bytes"] = int(max_bytes)
        msg = self._request({"type": "fetch", "id": self._next_id(), "request": req}, expect=("fetched",))
        if msg["type"] == "error":
            raise FetchError(msg.get("message", "fetch failed"))
        return FetchResponse(msg["response"])

    def open_input(self, name: str, columns: Optional[Sequence[str]] = None) -> Input:
        """Opens one of the step's input datasets, all its columns or only
        ``columns`` (read less, faster)."""
        req: Dict[str, Any] = {"type": "open_input", "id": self._next_id(), "dataset": name}
        if columns is not None:
            req["columns"] = list(columns)
        msg = self._request(req, expect=("opened",))
        if msg["type"] == "error":
            raise DataError(msg.get("message", f"cannot open input {name!r}"))
        return Input(self, name, int(msg["input"]))

    # -- data out ---------------------------------------------------------

    def emit(self, dataset: str, data: Any, *, chunk_rows: int = 65536) -> None:
        """Sends rows of ``dataset`` to the host: a ``pyarrow.Table``, a
        ``RecordBatch``, a list of batches, a list of dicts (one per row)
        or a pandas DataFrame. Columns may be typed or text the host parses
        (dates as ``YYYY-MM-DD``, numbers with separators). Call it as
        often as you like; the host validates every batch."""
        import pyarrow as pa
        import pyarrow.ipc as ipc

        if isinstance(data, pa.RecordBatch):
            table = pa.Table.from_batches([data])
        elif isinstance(data, pa.Table):
            table = data
        elif isinstance(data, list) and data and isinstance(data[0], pa.RecordBatch):
            table = pa.Table.from_batches(data)
        elif isinstance(data, list):
            table = _rows_to_table(data)
        elif hasattr(data, "to_dict") and hasattr(data, "columns"):
            table = pa.Table.from_pandas(data, preserve_index=False)
        else:
            raise TypeError(f"emit takes a pyarrow Table or RecordBatch, a list of rows or a DataFrame, not {type(data).__name__}")
        if self.cancelled:
            raise Cancelled("the run was cancelled")
        batches = table.to_batches(max_chunksize=chunk_rows) or [pa.RecordBatch.from_pylist([], schema=table.schema)]
        for b in batches:
            sink = pa.BufferOutputStream()
            with ipc.new_stream(sink, b.schema) as w:
                w.write_batch(b)
            self._ch.send({"type": "batch", "dataset": dataset}, sink.getvalue().to_pybytes())

    # -- telling the host -------------------------------------------------

    def log(self, message: str, level: str = "info") -> None:
        """A log line under the step (``debug``, ``info``, ``warn`` or
        ``error``). Never log a person's data."""
        self._ch.send({"type": "log", "level": level, "message": str(message)})

    def progress(self, done: int, total: int = 0, message: str = "") -> None:
        """How far the plugin has got (shown as a bar on a terminal)."""
        self._ch.send({"type": "progress", "done": int(done), "total": int(total), "message": message})

    def warn_coverage(self, what: str, count: int, of: int = 0, dataset: Optional[str] = None) -> None:
        """A loss of coverage the run must report (rows placed in no area,
        unmatched codes): the step ends ``succeeded with warnings``, or
        fails under ``[quality] fail_on = ["coverage"]``."""
        self._ch.send({"type": "warn", "dataset": dataset or "", "what": what, "count": int(count), "of": int(of)})

    def check_cancelled(self) -> None:
        """Raises ``Cancelled`` when the host asked the plugin to stop:
        call it between units of work (pages, files, chunks)."""
        if self.cancelled:
            raise Cancelled("the run was cancelled")

    @property
    def cancelled(self) -> bool:
        """The host asked the plugin to stop (check it in long loops)."""
        if not self._cancelled and self._ch.ready():
            msg = self._ch.receive()
            if msg is None or msg.get("type") == "cancel":
                self._cancelled = True
        return self._cancelled


class Plugin:
    """A plugin's description: set the class attributes, write ``run``."""

    #: ``source`` or ``indicator``.
    kind: str = ""
    #: kebab-case name (``vcs-referrals``).
    name: str = ""
    #: semver version (``0.1.0``): bump it when the output changes.
    version: str = "0.1.0"
    #: One line on what it does.
    description: str = ""
    #: The licence of the data it brings in (sources).
    licence: Optional[str] = None
    #: Datasets it emits: a name the host knows, or a contract dict (the
    #: fields of a ``config/contracts/*.toml`` file). An indicator emits one.
    produces: Sequence[Union[str, Mapping[str, Any]]] = ()
    #: Datasets it reads (indicators); the step is skipped when one is empty.
    consumes: Sequence[str] = ()
    #: Datasets it reads when they are there.
    consumes_optional: Sequence[str] = ()
    #: JSON Schema of its options.
    config_schema: Mapping[str, Any] = {"type": "object"}

    def manifest(self) -> Dict[str, Any]:
        """The manifest the host is sent."""
        produces = []
        for d in self.produces:
            if isinstance(d, str):
                produces.append({"name": d})
            else:
                produces.append({"name": d["name"], "contract": dict(d)})
        m: Dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "kind": self.kind,
            "description": self.description,
            "produces": produces,
            "consumes": list(self.consumes),
            "config_schema": dict(self.config_schema),
        }
        if self.consumes_optional:
            m["consumes_optional"] = list(self.consumes_optional)
        if self.licence:
            m["licence"] = self.licence
        return m

    def run(self, ctx: Context) -> None:  # pragma: no cover - overridden
        """Does the work: fetch, read, ``ctx.emit``."""
        raise NotImplementedError


class Source(Plugin):
    """A source plugin: fetches and parses data, emits datasets."""

    kind = "source"


class Indicator(Plugin):
    """An indicator plugin: reads datasets, emits one indicator output."""

    kind = "indicator"


def _rows_to_table(rows: List[Mapping[str, Any]]) -> Any:
    """A table from rows (dicts). A column whose values pyarrow cannot type
    as one (``3`` beside ``"1,500"``) is sent as text, which the host
    parses against the contract."""
    import pyarrow as pa

    names: List[str] = []
    for r in rows:
        for k in r:
            if k not in names:
                names.append(k)
    columns = {}
    for n in names:
        values = [r.get(n) for r in rows]
        try:
            columns[n] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
            columns[n] = pa.array([None if v is None else str(v) for v in values], pa.string())
    return pa.table(columns) if names else pa.table({})


def _protocol_streams():
    """Keeps the real stdout for the protocol and points fd 1 (and
    ``sys.stdout``) at stderr, so a stray print cannot corrupt a frame."""
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return out


def run(plugin: Plugin) -> int:
    """Speaks the protocol for ``plugin`` on stdin and stdout, then exits
    the process (0 when it told the host how it ended)."""
    code = serve(plugin, sys.stdin.fileno(), _protocol_streams())
    sys.exit(code)


def serve(plugin: Plugin, read_fd: int, write: Any) -> int:
    """The protocol loop (``run`` without the exit, for tests)."""
    ch = _Channel(read_fd, write)
    hello = ch.receive()
    if hello is None or hello.get("type") != "hello":
        print("eqpipe_plugin: expected `hello` from the host", file=sys.stderr)
        return 2
    major = str(hello.get("protocol", "")).split(".")[0]
    if major != PROTOCOL.split(".")[0]:
        print(f"eqpipe_plugin: the host speaks protocol {hello.get('protocol')}, this SDK {PROTOCOL}", file=sys.stderr)
    ch.send({"type": "manifest", "protocol": PROTOCOL, "manifest": plugin.manifest()})
    if hello.get("mode") != "run":
        return 0
    ctx = Context(ch, hello)
    try:
        plugin.run(ctx)
    except PluginError as e:
        ch.send({"type": "error", "kind": e.kind, "message": str(e) or type(e).__name__})
        return 0
    except MemoryError as e:
        ch.send({"type": "error", "kind": "internal", "message": f"MemoryError: {e or 'out of memory'}"})
        return 0
    except Exception as e:  # the plugin's own bug: its traceback to stderr
        traceback.print_exc(file=sys.stderr)
        where = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ else None
        at = f" (at {os.path.basename(where.filename)}:{where.lineno})" if where else ""
        ch.send({"type": "error", "kind": "internal", "message": f"{type(e).__name__}: {e}{at}"})
        return 0
    ch.send({"type": "done"})
    return 0
