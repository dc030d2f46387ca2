//! Process plugins: a plugin that is any program (Python, R, a shell
//! script) speaking the process plugin protocol on its stdin and stdout.
//! `[[sources]] command = ["python3", "plugins/my_source.py"]`.
//!
//! Every message, both ways, is one JSON object on one line (its `type`
//! says which), followed, when the object has `"bytes": N`, by exactly N
//! raw bytes (an Arrow IPC stream). The host says `hello` (the protocol
//! version, and for a run the step, options, snapshot date, partner and
//! inputs); the plugin answers with its `manifest`; then, in a run, the
//! plugin sends `batch`es, `log`, `progress` and `warn` messages, asks the
//! host to `fetch` (the host's cache, retries, rate limits, scoping and
//! secrets) and to read its inputs (`open_input`, then `next_batch` until
//! `input_end`), and ends with `done` or `error`. The host may send
//! `cancel` at any time. The plugin guide (`plugins/sdk/GUIDE.md`, section
//! 10) is the full specification.
//!
//! The program runs in the config's folder with an environment holding
//! no secret (only `PATH`, `HOME`, locale, temp and interpreter settings):
//! a secret reaches it only as a header or query value the host adds to a
//! fetch, and only from a variable its own options name. After the
//! handshake the host treats it as any plugin: contracts, quarantine,
//! disclosure control, fingerprints, scoping and provenance.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::Duration;

use arrow_array::RecordBatch;
use eqpipe_plugin_sdk::{FetchRequest, Manifest};
use serde_json::{Value, json};

use crate::host::StepContext;
use crate::isolate::{IsolatedError, Limits, failed};

/// The protocol version this host speaks: a plugin's major must match.
pub const PROTOCOL: (u32, u32) = (1, 0);

/// The longest header line accepted (a manifest is a few kB).
const MAX_HEADER: u64 = 4 << 20;

/// How long a plugin may take to answer `hello` with its manifest.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(60);

/// Environment variables a plugin process keeps; every other is removed.
const KEPT_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "PYTHONPATH",
    "PYTHONHOME",
    "VIRTUAL_ENV",
    "R_HOME",
    "R_LIBS",
    "R_LIBS_USER",
];

/// A process plugin's program: its command line and working directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// Where it runs (the config's folder).
    pub dir: PathBuf,
}

impl std::fmt::Display for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.argv.join(" "))
    }
}

impl Program {
    /// A digest of the files its command line names (the script, not the
    /// interpreter found on `PATH`), so editing the script changes it.
    pub fn digest(&self) -> String {
        let mut parts = Vec::new();
        for a in &self.argv {
            let p = self.dir.join(a);
            if p.is_file()
                && let Ok(d) = eqpipe_store::fingerprint::digest_path(&p)
            {
                parts.push(d);
            }
        }
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(parts.join(",").as_bytes()))[..16].to_string()
    }

    fn command(&self, memory_limit_mb: Option<u64>) -> Command {
        let mut cmd = Command::new(&self.argv[0]);
        cmd.args(&self.argv[1..])
            .current_dir(&self.dir)
            .env_clear()
            .envs(
                KEPT_ENV
                    .iter()
                    .filter_map(|k| Some((k, std::env::var_os(k)?))),
            )
            .env("EQPIPE_PROTOCOL", format!("{}.{}", PROTOCOL.0, PROTOCOL.1))
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONIOENCODING", "utf-8")
            .env("MALLOC_ARENA_MAX", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        #[cfg(unix)]
        if let Some(mb) = memory_limit_mb {
            use std::os::unix::process::CommandExt;
            let bytes = mb.saturating_mul(1 << 20) as libc::rlim_t;
            // SAFETY: setrlimit is async-signal-safe; nothing else runs
            // between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    let limit = libc::rlimit {
                        rlim_cur: bytes,
                        rlim_max: bytes,
                    };
                    if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        #[cfg(not(unix))]
        let _ = memory_limit_mb;
        cmd
    }

    fn spawn(&self, memory_limit_mb: Option<u64>) -> Result<Child, String> {
        self.command(memory_limit_mb).spawn().map_err(|e| {
            format!(
                "cannot start `{}` in {}: {e}",
                self.argv[0],
                self.dir.display()
            )
        })
    }
}

/// Writes one message: the header line, then the body if any.
fn send(w: &mut impl Write, mut header: Value, body: &[u8]) -> std::io::Result<()> {
    if !body.is_empty() {
        header["bytes"] = json!(body.len());
    }
    let mut line = serde_json::to_vec(&header).map_err(std::io::Error::other)?;
    line.push(b'\n');
    w.write_all(&line)?;
    w.write_all(body)?;
    w.flush()
}

/// Reads one message: `None` at the end of the stream. A line that is not
/// a JSON object with a `type` is refused, quoting its start (a plugin
/// printing to stdout shows up here).
fn receive(r: &mut impl BufRead) -> Result<Option<(Value, Vec<u8>)>, String> {
    let mut line = Vec::new();
    r.by_ref()
        .take(MAX_HEADER)
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("cannot read from the plugin: {e}"))?;
    if line.is_empty() {
        return Ok(None);
    }
    let header: Value = serde_json::from_slice(&line)
        .ok()
        .filter(|v: &Value| v.get("type").and_then(Value::as_str).is_some())
        .ok_or_else(|| {
            let text: String = String::from_utf8_lossy(&line)
                .trim_end()
                .chars()
                .take(80)
                .collect();
            format!(
                "a malformed message from the plugin: `{text}` is not a protocol message (a JSON object with a `type`, on one line); a plugin must not print to stdout: log with ctx.log or print to stderr"
            )
        })?;
    let n = header.get("bytes").and_then(Value::as_u64).unwrap_or(0);
    let mut body = Vec::new();
    if n > 0 {
        r.by_ref()
            .take(n)
            .read_to_end(&mut body)
            .map_err(|e| format!("cannot read from the plugin: {e}"))?;
        if body.len() as u64 != n {
            return Err(format!(
                "the plugin's `{}` message promised {n} bytes and sent {}",
                kind(&header),
                body.len()
            ));
        }
    }
    Ok(Some((header, body)))
}

fn kind(v: &Value) -> &str {
    v.get("type").and_then(Value::as_str).unwrap_or("")
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Checks a `manifest` message and reads the manifest and protocol from it.
fn manifest_of(header: &Value) -> Result<(Manifest, (u32, u32)), String> {
    if kind(header) != "manifest" {
        return Err(format!(
            "the plugin answered `hello` with a `{}` message; it must send its `manifest` first",
            kind(header)
        ));
    }
    let version = text(header, "protocol");
    let mut parts = version.split('.').map(|p| p.parse::<u32>());
    let (Some(Ok(major)), Some(Ok(minor))) = (parts.next(), parts.next()) else {
        return Err(format!(
            "the manifest message's `protocol` is `{version}`, not MAJOR.MINOR"
        ));
    };
    if major != PROTOCOL.0 {
        return Err(format!(
            "the plugin speaks process protocol {major}.{minor}, this eqpipe speaks {}.{}; use an SDK of protocol {}.x",
            PROTOCOL.0, PROTOCOL.1, PROTOCOL.0
        ));
    }
    let manifest: Manifest =
        serde_json::from_value(header.get("manifest").cloned().unwrap_or(Value::Null))
            .map_err(|e| format!("the manifest is not of the expected shape: {e}"))?;
    Ok((manifest, (major, minor)))
}

fn hello(mode: &str) -> Value {
    json!({
        "type": "hello",
        "protocol": format!("{}.{}", PROTOCOL.0, PROTOCOL.1),
        "mode": mode,
    })
}

/// Starts the program, says `hello` in describe mode and returns the
/// manifest it answers with (and the protocol version it speaks).
pub fn describe(program: &Program) -> Result<(Manifest, (u32, u32)), String> {
    let mut child = program.spawn(None)?;
    let mut stdin = child.stdin.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(receive(&mut BufReader::new(stdout)));
    });
    let lines = Mutex::new(crate::isolate::LastWords::default());
    let got = std::thread::scope(|scope| {
        let lines = &lines;
        scope.spawn(move || crate::isolate::relog_lines(stderr, lines));
        let _ = send(&mut stdin, hello("describe"), &[]);
        let got = rx.recv_timeout(DESCRIBE_TIMEOUT);
        drop(stdin);
        if got.is_err() {
            let _ = child.kill();
        }
        let _ = child.wait();
        got
    });
    let last = crate::isolate::last_words(&lines.into_inner().expect("not poisoned"));
    let said = if last.is_empty() {
        String::new()
    } else {
        format!("; its last message: {last}")
    };
    match got {
        Err(_) => Err(format!(
            "no manifest within {} s of `hello`{said}",
            DESCRIBE_TIMEOUT.as_secs()
        )),
        Ok(Ok(None)) => Err(format!(
            "the program ended without answering `hello` with its manifest{said}"
        )),
        Ok(Err(e)) => Err(e),
        Ok(Ok(Some((header, _)))) => manifest_of(&header),
    }
}

/// How the plugin ended, as it said.
enum Ending {
    Done,
    Error { cancelled: bool, message: String },
}

/// Runs a step's process plugin: the handshake, then its messages served
/// until it ends; batches go into `ctx.sink`, fetches into `ctx.fetches`.
pub fn invoke(
    ctx: &StepContext,
    program: &Program,
    options: &Value,
    limits: &Limits,
) -> Result<(), IsolatedError> {
    let mut child = program.spawn(limits.memory_limit_mb).map_err(failed)?;
    let stdin = Mutex::new(child.stdin.take().expect("piped"));
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let mut start = hello("run");
    start["step"] = json!(ctx.step);
    start["options"] = options.clone();
    start["snapshot_date"] = json!(ctx.snapshot_date);
    start["personal"] = json!(ctx.personal);
    start["partner"] = json!(ctx.scope.as_ref().map(|s| s.partner.clone()));
    start["inputs"] = ctx
        .inputs
        .iter()
        .map(|(name, (schema, _))| {
            let columns: Vec<&String> = schema.fields().iter().map(|f| f.name()).collect();
            (name.clone(), json!({ "columns": columns }))
        })
        .collect::<serde_json::Map<_, _>>()
        .into();
    if let Err(e) = send(&mut *stdin.lock().expect("not poisoned"), start, &[]) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(failed(format!("cannot send `hello` to the plugin: {e}")));
    }
    let span = tracing::Span::current();
    let last_lines = Mutex::new(crate::isolate::LastWords::default());
    let stop = AtomicBool::new(false);
    let mut timed_out = false;
    let mut serving = Serving {
        ctx,
        allowed_secrets: secret_names(options),
        inputs: HashMap::new(),
        stdin: &stdin,
    };
    let (status, served) = std::thread::scope(|scope| {
        let (logs_span, lines) = (span.clone(), &last_lines);
        scope.spawn(move || {
            let _g = logs_span.enter();
            crate::isolate::relog_lines(stderr, lines);
        });
        let (serve_span, stop_ref, serving) = (span.clone(), &stop, &mut serving);
        let served = scope.spawn(move || {
            let _g = serve_span.enter();
            let r = serving.serve(&mut BufReader::new(stdout));
            if r.is_err() {
                stop_ref.store(true, Ordering::Relaxed);
            }
            r
        });
        let status = crate::isolate::watch(&mut child, ctx, limits, &stop, &mut timed_out, || {
            let _ = send(
                &mut *stdin.lock().expect("not poisoned"),
                json!({"type": "cancel"}),
                &[],
            );
        });
        (status, served.join())
    });
    let status = status.map_err(|e| failed(format!("lost the plugin process: {e}")))?;
    if timed_out {
        return Err(failed(format!(
            "the plugin did not finish within {} s (timeout_secs) and its process was killed",
            limits.timeout.unwrap_or_default().as_secs()
        )));
    }
    let served = served.unwrap_or_else(|_| Err("serving the plugin failed inside eqpipe".into()));
    let last = crate::isolate::last_words(&last_lines.into_inner().expect("not poisoned"));
    match served {
        // A plugin that stops when asked may exit before the host's last
        // answer reaches it (a broken pipe): it honoured the request.
        Err(message) if ctx.cancel.load(Ordering::Relaxed) => {
            tracing::debug!("after the request to stop: {message}");
            Err(IsolatedError {
                cancelled: true,
                message: "cancelled: the plugin stopped before the host's last answer reached it"
                    .into(),
            })
        }
        Err(message) => Err(failed(message)),
        Ok(None) => Err(crate::isolate::died(ctx, status, &last, limits)),
        Ok(Some(Ending::Error { cancelled, message })) => Err(IsolatedError {
            cancelled: cancelled || ctx.cancel.load(Ordering::Relaxed),
            message: with_memory_limit(message, limits),
        }),
        Ok(Some(Ending::Done)) if !status.success() => Err(failed(format!(
            "the plugin said it was done, then exited with {status}"
        ))),
        // As for a library plugin: a run cancelled while it worked is
        // cancelled, whatever the plugin made of it.
        Ok(Some(Ending::Done)) if ctx.cancel.load(Ordering::Relaxed) => Err(IsolatedError {
            cancelled: true,
            message: "cancelled".into(),
        }),
        Ok(Some(Ending::Done)) => Ok(()),
    }
}

/// A plugin's own report of running out of memory, with the limit named.
fn with_memory_limit(message: String, limits: &Limits) -> String {
    match limits.memory_limit_mb {
        Some(mb) if message.contains("MemoryError") || message.contains("cannot allocate") => {
            format!("{message}; it has a memory limit of {mb} MB (memory_limit_mb)")
        }
        _ => message,
    }
}

/// The environment variables a step's options name (keys ending in
/// `_env`, at any depth): the only secrets its fetches may ask for.
fn secret_names(options: &Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    match v {
                        Value::String(s) if k.ends_with("_env") => out.push(s.clone()),
                        _ => walk(v, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(options, &mut out);
    out
}

/// The host's side of a running plugin's messages.
struct Serving<'a> {
    ctx: &'a StepContext,
    allowed_secrets: Vec<String>,
    inputs: HashMap<u64, eqpipe_store::files::MultiFileReader>,
    stdin: &'a Mutex<ChildStdin>,
}

impl Serving<'_> {
    /// Serves messages until the plugin's stdout closes: `Ok(None)` when
    /// it never said how it ended, `Err` for a protocol fault.
    fn serve(&mut self, r: &mut impl BufRead) -> Result<Option<Ending>, String> {
        let manifest = match receive(r)? {
            Some((h, _)) => manifest_of(&h)?.0,
            None => return Ok(None),
        };
        let ours = &self.ctx.plugin.manifest;
        if manifest != *ours {
            return Err(format!(
                "the plugin's manifest changed since it was loaded (it now says {} {}); run it again",
                manifest.name, manifest.version
            ));
        }
        let mut ending = None;
        while let Some((header, body)) = receive(r)? {
            if ending.is_some() {
                return Err(format!(
                    "the plugin sent a `{}` message after it had ended",
                    kind(&header)
                ));
            }
            ending = self.handle(&header, body)?;
        }
        Ok(ending)
    }

    fn reply(&self, header: Value, body: &[u8]) -> Result<(), String> {
        send(&mut *self.stdin.lock().expect("not poisoned"), header, body)
            .map_err(|e| format!("cannot answer the plugin: {e}"))
    }

    /// Answers request `id`: `{"type": ok.0, ok.1: value}` or an `error`.
    fn answer(
        &self,
        id: Value,
        ok: (&str, &str),
        answer: Result<Value, String>,
    ) -> Result<(), String> {
        let header = match answer {
            Ok(v) => json!({"type": ok.0, "id": id, ok.1: v}),
            Err(message) => json!({"type": "error", "id": id, "message": message}),
        };
        self.reply(header, &[])
    }

    fn handle(&mut self, h: &Value, body: Vec<u8>) -> Result<Option<Ending>, String> {
        let id = h.get("id").cloned().unwrap_or(Value::Null);
        match kind(h) {
            "batch" => self.batch(text(h, "dataset"), body)?,
            "fetch" => {
                let answer = self.fetch(h);
                self.answer(id, ("fetched", "response"), answer)?;
            }
            "open_input" => {
                let answer = self.open_input(h).map(Value::from);
                self.answer(id, ("opened", "input"), answer)?;
            }
            "next_batch" => self.next_batch(h.get("input").and_then(Value::as_u64))?,
            "log" => {
                let msg = text(h, "message");
                match text(h, "level") {
                    "error" => tracing::error!(target: "plugin", "{msg}"),
                    "warn" => tracing::warn!(target: "plugin", "{msg}"),
                    "info" => tracing::info!(target: "plugin", "{msg}"),
                    _ => tracing::debug!(target: "plugin", "{msg}"),
                }
            }
            "progress" => {
                let n = |k: &str| h.get(k).and_then(Value::as_u64).unwrap_or(0);
                self.ctx
                    .show_progress(n("done"), n("total"), text(h, "message"));
            }
            "warn" => {
                let n = |k: &str| h.get(k).and_then(Value::as_u64).unwrap_or(0);
                self.ctx
                    .coverage(text(h, "dataset"), text(h, "what"), n("count"), n("of"));
            }
            "done" => return Ok(Some(Ending::Done)),
            "error" => {
                return Ok(Some(Ending::Error {
                    cancelled: text(h, "kind") == "cancelled",
                    message: match text(h, "message") {
                        "" => "the plugin failed and gave no reason".to_string(),
                        m => m.to_string(),
                    },
                }));
            }
            other => {
                return Err(format!(
                    "an unknown message `{other}` from the plugin (protocol {}.{} has batch, fetch, open_input, next_batch, log, progress, warn, done, error)",
                    PROTOCOL.0, PROTOCOL.1
                ));
            }
        }
        Ok(None)
    }

    /// A `batch`: an Arrow IPC stream for one of the plugin's datasets,
    /// validated and stored by the sink as any plugin's.
    fn batch(&self, dataset: &str, body: Vec<u8>) -> Result<(), String> {
        let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(body), None)
            .map_err(|e| {
                format!(
                    "the plugin sent a `batch` for `{dataset}` that is not an Arrow IPC stream: {e}"
                )
            })?;
        let schema = reader.schema();
        let batches: Vec<Result<RecordBatch, arrow_schema::ArrowError>> = reader.collect();
        let reader = arrow_array::RecordBatchIterator::new(batches, schema);
        let mut sink = self.ctx.sink.lock().expect("not poisoned");
        sink.emit(dataset, reader).map_err(|(_, m)| m)
    }

    /// A `fetch`, through the host's fetch layer, with only the secrets
    /// the step's options name.
    fn fetch(&self, h: &Value) -> Result<Value, String> {
        let req: FetchRequest =
            serde_json::from_value(h.get("request").cloned().unwrap_or(Value::Null))
                .map_err(|e| format!("unreadable fetch request: {e}"))?;
        for var in req.secret_headers.values().chain(req.secret_query.values()) {
            if !self.allowed_secrets.contains(var) {
                return Err(format!(
                    "the plugin asked for the secret in `{var}`, which its options do not name; a process plugin may use only the variables its options name in keys ending `_env`"
                ));
            }
        }
        let json = serde_json::to_string(&req).expect("serialisable");
        let resp = self.ctx.fetch(&json).map_err(|(_, m)| m)?;
        serde_json::to_value(resp).map_err(|e| e.to_string())
    }

    /// An `open_input`: a handle to one of the step's inputs, all its
    /// columns or the named ones.
    fn open_input(&mut self, h: &Value) -> Result<u64, String> {
        let name = text(h, "dataset");
        let Some((schema, files)) = self.ctx.inputs.get(name) else {
            return Err(format!(
                "dataset `{name}` is not an input of this step (declare it in the manifest's `consumes`)"
            ));
        };
        let mut reader = eqpipe_store::files::MultiFileReader::new(schema.clone(), files.clone());
        if let Some(cols) = h.get("columns").and_then(Value::as_array) {
            let cols: Vec<String> = cols
                .iter()
                .filter_map(|c| c.as_str().map(String::from))
                .collect();
            reader = reader
                .with_columns(&cols)
                .map_err(|e| format!("input `{name}`: {e}"))?;
        }
        let handle = self.inputs.len() as u64 + 1;
        self.inputs.insert(handle, reader);
        Ok(handle)
    }

    /// A `next_batch`: the input's next batch as an Arrow IPC stream, or
    /// `input_end`.
    fn next_batch(&mut self, input: Option<u64>) -> Result<(), String> {
        let Some(reader) = input.and_then(|i| self.inputs.get_mut(&i)) else {
            return self.reply(
                json!({"type": "error", "input": input, "message": "no such open input"}),
                &[],
            );
        };
        match reader.next() {
            None => {
                self.inputs.remove(&input.unwrap_or_default());
                self.reply(json!({"type": "input_end", "input": input}), &[])
            }
            Some(Err(e)) => self.reply(
                json!({"type": "error", "input": input, "message": e.to_string()}),
                &[],
            ),
            Some(Ok(batch)) => {
                let mut buf = Vec::new();
                let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut buf, &batch.schema())
                    .map_err(|e| e.to_string())?;
                w.write(&batch).map_err(|e| e.to_string())?;
                w.finish().map_err(|e| e.to_string())?;
                drop(w);
                self.reply(json!({"type": "input_batch", "input": input}), &buf)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_a_header_line_and_its_bytes() {
        let mut buf = Vec::new();
        send(&mut buf, json!({"type": "batch", "dataset": "x"}), b"abc").unwrap();
        send(&mut buf, json!({"type": "done"}), &[]).unwrap();
        let mut r = std::io::Cursor::new(buf);
        let (h, body) = receive(&mut r).unwrap().unwrap();
        assert_eq!(
            (kind(&h), h["bytes"].as_u64(), &body[..]),
            ("batch", Some(3), &b"abc"[..])
        );
        let (h, body) = receive(&mut r).unwrap().unwrap();
        assert_eq!((kind(&h), body.len()), ("done", 0));
        assert!(receive(&mut r).unwrap().is_none());
    }

    #[test]
    fn printed_text_and_short_bodies_are_refused_by_name() {
        let e = receive(&mut std::io::Cursor::new(b"hello from print()\n".to_vec())).unwrap_err();
        assert!(
            e.contains("`hello from print()`") && e.contains("stdout"),
            "{e}"
        );
        let e = receive(&mut std::io::Cursor::new(
            b"{\"type\":\"batch\",\"bytes\":10}\nabc".to_vec(),
        ))
        .unwrap_err();
        assert!(e.contains("promised 10 bytes and sent 3"), "{e}");
    }

    #[test]
    fn only_the_variables_the_options_name_are_secrets_it_may_use() {
        let o = json!({"token_env": "A_TOKEN", "nested": [{"key_env": "B"}], "url": "x_env"});
        let mut names = secret_names(&o);
        names.sort();
        assert_eq!(names, ["A_TOKEN", "B"]);
    }

    #[test]
    fn another_protocol_major_is_refused() {
        let e = manifest_of(&json!({"type": "manifest", "protocol": "2.0", "manifest": {}}))
            .unwrap_err();
        assert!(e.contains("protocol 2.0"), "{e}");
        let e = manifest_of(&json!({"type": "batch"})).unwrap_err();
        assert!(e.contains("manifest"), "{e}");
    }
}
