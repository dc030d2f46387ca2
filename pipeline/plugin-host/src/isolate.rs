//! Process isolation: `isolation = "process"` runs a plugin in a child
//! process (`eqpipe plugin-host`, this same binary), so a segfault, an
//! abort, an endless loop (`timeout_secs`) or unbounded allocation
//! (`memory_limit_mb`, an address-space limit set in the child before the
//! plugin is loaded) fails that step alone, with a clear error, while the
//! rest of the run completes.
//!
//! The parent sends the child one JSON job line on stdin (the plugin, its
//! options, its inputs' files and schemas, the fetch settings) and later,
//! if the run is cancelled, a `cancel` line; closing stdin also cancels.
//! The child runs the plugin with the host's own vtable: it fetches through
//! its own copy of the fetch layer (same cache folders) and reads inputs
//! from the files, but every batch the plugin emits is sent back on stdout
//! as an Arrow IPC stream in a frame, and the **parent** validates, stores
//! and quarantines it, exactly as for an in-process plugin. Nothing the
//! child writes is trusted as a file. The child's stdout is reserved for
//! frames (anything the plugin prints goes to stderr); its log lines (JSON)
//! are re-logged by the parent under the step's span.
//!
//! Frames: `B` + u32 name length + name + u64 length + Arrow IPC stream (one
//! batch); `D` + u64 length + JSON outcome (status, message, fetches, the
//! coverage warnings the plugin raised).

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow_array::{RecordBatch, RecordBatchIterator};
use arrow_schema::SchemaRef;
use eqpipe_plugin_sdk::{FetchRequest, PluginKind};
use serde::{Deserialize, Serialize};

use crate::host::{FetchRecord, StepContext};
use eqpipe_core::config::{FetchConfig, PluginRef};

/// Limits of an isolated step.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// Kill the plugin process after this long.
    pub timeout: Option<Duration>,
    /// Address-space limit of the plugin process, MB.
    pub memory_limit_mb: Option<u64>,
}

/// Which plugin, as the child resolves it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum WireRef {
    Builtin(String),
    Library(PathBuf),
}

/// The job the parent sends.
#[derive(Debug, Serialize, Deserialize)]
struct Job {
    plugin: WireRef,
    kind: PluginKind,
    step: String,
    options: String,
    personal: bool,
    fetch: FetchConfig,
    cache_dir: PathBuf,
    restricted_cache_dir: Option<PathBuf>,
    base_dir: PathBuf,
    /// dataset -> (schema as an empty Arrow IPC stream, files)
    inputs: HashMap<String, (Vec<u8>, Vec<PathBuf>)>,
    memory_limit_mb: Option<u64>,
    snapshot_date: String,
    scope: Option<crate::host::Scope>,
}

/// A fetch the child made, with what incremental runs need.
#[derive(Debug, Serialize, Deserialize)]
struct WireFetch {
    url: String,
    from_cache: bool,
    bytes: u64,
    fetched_at: Option<String>,
    request: Option<FetchRequest>,
    digest: Option<String>,
}

/// What the child reports at the end.
#[derive(Debug, Serialize, Deserialize)]
struct Done {
    ok: bool,
    cancelled: bool,
    message: String,
    fetches: Vec<WireFetch>,
    /// Coverage warnings the plugin raised.
    #[serde(default)]
    warnings: Vec<eqpipe_core::manifest::Warning>,
}

/// Why an isolated step failed.
#[derive(Debug)]
pub struct IsolatedError {
    /// The run was cancelled.
    pub cancelled: bool,
    /// What happened, in one line.
    pub message: String,
}

pub(crate) fn failed(message: impl Into<String>) -> IsolatedError {
    IsolatedError {
        cancelled: false,
        message: message.into(),
    }
}

fn schema_bytes(schema: &SchemaRef) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Ok(mut w) = arrow_ipc::writer::StreamWriter::try_new(&mut buf, schema) {
        let _ = w.finish();
    }
    buf
}

fn batch_bytes(batch: &RecordBatch) -> Result<Vec<u8>, arrow_schema::ArrowError> {
    let mut buf = Vec::new();
    let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut buf, &batch.schema())?;
    w.write(batch)?;
    w.finish()?;
    drop(w);
    Ok(buf)
}

fn signal_name(sig: i32) -> String {
    let name = match sig {
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        15 => "SIGTERM",
        _ => "",
    };
    if name.is_empty() {
        format!("signal {sig}")
    } else {
        format!("signal {sig} ({name})")
    }
}

/// Runs `ctx`'s plugin in a child process; emitted batches go into
/// `ctx.sink` here, fetch records into `ctx.fetches`. Three threads: the
/// child's log lines re-logged, its frames read into the sink, and this
/// one watching for exit, timeout and cancellation.
pub fn invoke(
    ctx: &StepContext,
    plugin: &PluginRef,
    options: &str,
    limits: &Limits,
) -> Result<(), IsolatedError> {
    let (mut child, mut stdin) = spawn(&job_for(ctx, plugin, options, limits))?;
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let span = tracing::Span::current();
    let last_lines = Mutex::new(LastWords::default());
    let emit_error: Mutex<Option<String>> = Mutex::new(None);
    let done: Mutex<Option<Done>> = Mutex::new(None);
    let stop = AtomicBool::new(false);
    let mut timed_out = false;
    let status = std::thread::scope(|scope| {
        let (logs_span, lines) = (span.clone(), &last_lines);
        scope.spawn(move || {
            let _g = logs_span.enter();
            relog_lines(stderr, lines);
        });
        let (frames_span, emit_error, done, stop) = (span.clone(), &emit_error, &done, &stop);
        scope.spawn(move || {
            let _g = frames_span.enter();
            read_frames(stdout, ctx, emit_error, done, stop);
        });
        watch(&mut child, ctx, limits, stop, &mut timed_out, || {
            let _ = stdin.write_all(b"cancel\n");
            let _ = stdin.flush();
        })
    });
    drop(stdin);
    let status = status.map_err(|e| failed(format!("lost the plugin process: {e}")))?;
    if let Some(e) = emit_error.into_inner().expect("not poisoned") {
        return Err(failed(e));
    }
    if timed_out {
        return Err(failed(format!(
            "the plugin did not finish within {} s (timeout_secs) and its process was killed",
            limits.timeout.unwrap_or_default().as_secs()
        )));
    }
    let last = last_words(&last_lines.into_inner().expect("not poisoned"));
    outcome(
        ctx,
        done.into_inner().expect("not poisoned"),
        status,
        &last,
        limits,
    )
}

/// The job the child is sent: the plugin, its options and everything the
/// host side of its context holds (fetch settings, caches, inputs, scope).
fn job_for(ctx: &StepContext, plugin: &PluginRef, options: &str, limits: &Limits) -> Job {
    let fetcher = &ctx.fetcher;
    Job {
        plugin: match plugin {
            PluginRef::Builtin(n) => WireRef::Builtin(n.clone()),
            PluginRef::Library(p) => WireRef::Library(p.clone()),
            // A process plugin is run by `process::invoke`, never here.
            PluginRef::Command { argv, .. } => WireRef::Builtin(argv.join(" ")),
        },
        kind: ctx.plugin.manifest.kind,
        step: ctx.step.clone(),
        options: options.to_string(),
        personal: ctx.personal,
        fetch: fetcher.config().clone(),
        cache_dir: fetcher.cache_dir().to_path_buf(),
        restricted_cache_dir: fetcher.restricted_cache_dir().map(|p| p.to_path_buf()),
        base_dir: fetcher.base_dir().to_path_buf(),
        inputs: ctx
            .inputs
            .iter()
            .map(|(k, (schema, files))| (k.clone(), (schema_bytes(schema), files.clone())))
            .collect(),
        memory_limit_mb: limits.memory_limit_mb,
        snapshot_date: ctx.snapshot_date.clone(),
        scope: ctx.scope.clone(),
    }
}

/// Starts `eqpipe plugin-host` and sends it the job as one JSON line.
fn spawn(job: &Job) -> Result<(Child, ChildStdin), IsolatedError> {
    let exe = std::env::current_exe().map_err(|e| failed(format!("cannot find eqpipe: {e}")))?;
    let mut child = Command::new(exe)
        .arg("plugin-host")
        // One malloc arena: per-thread arenas reserve address space that
        // would count against the memory limit.
        .env("MALLOC_ARENA_MAX", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot start the plugin process: {e}")))?;
    let mut stdin = child.stdin.take().expect("piped");
    let line = serde_json::to_string(job).expect("serialisable") + "\n";
    if let Err(e) = stdin.write_all(line.as_bytes()) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(failed(format!(
            "cannot send the job to the plugin process: {e}"
        )));
    }
    Ok((child, stdin))
}

/// What a dying child said: its last eight lines, and the last line that
/// says why (a failed allocation, a panic) even when a backtrace of many
/// lines followed it.
#[derive(Default)]
pub(crate) struct LastWords {
    lines: VecDeque<String>,
    telling: Option<String>,
}

/// Lines a runtime prints when it says why a process is dying.
const TELLING: [&str; 4] = [
    "memory allocation",
    "panicked at",
    "fatal runtime error",
    "MemoryError",
];

/// The child's log lines, re-logged here and kept for the error message
/// should it die.
pub(crate) fn relog_lines(stderr: impl Read, last: &Mutex<LastWords>) {
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        relog(&line);
        let mut l = last.lock().expect("not poisoned");
        if TELLING.iter().any(|t| line.contains(t)) {
            l.telling = Some(line.clone());
        }
        l.lines.push_back(line);
        if l.lines.len() > 8 {
            l.lines.pop_front();
        }
    }
}

/// The child's frames: batches into the sink, then the outcome. The first
/// error is kept and stops the child; later batches are read and dropped.
fn read_frames(
    stdout: impl Read,
    ctx: &StepContext,
    emit_error: &Mutex<Option<String>>,
    done: &Mutex<Option<Done>>,
    stop: &AtomicBool,
) {
    let mut r = BufReader::new(stdout);
    loop {
        let mut tag = [0u8; 1];
        if r.read_exact(&mut tag).is_err() {
            break;
        }
        let result = match tag[0] {
            b'B' => read_batch(&mut r).and_then(|(name, batch)| {
                if emit_error.lock().expect("not poisoned").is_some() {
                    return Ok(());
                }
                let schema = batch.schema();
                let reader = RecordBatchIterator::new(vec![Ok(batch)], schema);
                let mut sink = ctx.sink.lock().expect("not poisoned");
                sink.emit(&name, reader).map_err(|(_, m)| m)
            }),
            b'D' => read_frame(&mut r).and_then(|b| {
                let d: Done = serde_json::from_slice(&b).map_err(|e| e.to_string())?;
                *done.lock().expect("not poisoned") = Some(d);
                Ok(())
            }),
            t => Err(format!("unknown frame {t:#x} from the plugin process")),
        };
        if let Err(e) = result {
            emit_error.lock().expect("not poisoned").get_or_insert(e);
            stop.store(true, Ordering::Relaxed);
        }
    }
}

/// Waits for the child to exit, killing it on a frame error, past its
/// timeout, or ten seconds after a cancellation it was told of.
pub(crate) fn watch(
    child: &mut Child,
    ctx: &StepContext,
    limits: &Limits,
    stop: &AtomicBool,
    timed_out: &mut bool,
    mut send_cancel: impl FnMut(),
) -> std::io::Result<std::process::ExitStatus> {
    let started = Instant::now();
    let mut cancel_sent: Option<Instant> = None;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if stop.load(Ordering::Relaxed) {
            let _ = child.kill();
        }
        if let Some(t) = limits.timeout
            && started.elapsed() > t
            && !*timed_out
        {
            *timed_out = true;
            let _ = child.kill();
        }
        if ctx.cancel.load(Ordering::Relaxed) {
            match cancel_sent {
                None => {
                    send_cancel();
                    cancel_sent = Some(Instant::now());
                }
                Some(t) if t.elapsed() > Duration::from_secs(10) => {
                    let _ = child.kill();
                }
                _ => {}
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The child's last words: what the runtime printed as it died if it said
/// why (a failed allocation, a panic), else its last line.
pub(crate) fn last_words(last: &LastWords) -> String {
    last.telling
        .as_ref()
        .or_else(|| last.lines.iter().rev().find(|l| !l.trim().is_empty()))
        .map(|l| log_message(l))
        .unwrap_or_default()
}

/// The step's result from the child's report (its warnings and fetches
/// kept), or, if it died without one, how it died and its last words.
fn outcome(
    ctx: &StepContext,
    done: Option<Done>,
    status: std::process::ExitStatus,
    last: &str,
    limits: &Limits,
) -> Result<(), IsolatedError> {
    if let Some(d) = &done {
        ctx.warnings
            .lock()
            .expect("not poisoned")
            .extend(d.warnings.iter().cloned());
        ctx.fetches.extend(d.fetches.iter().map(|f| FetchRecord {
            url: f.url.clone(),
            from_cache: f.from_cache,
            bytes: f.bytes,
            fetched_at: f.fetched_at.clone(),
            request: f.request.clone(),
            digest: f.digest.clone(),
        }));
    }
    match done {
        Some(d) if d.ok => Ok(()),
        Some(d) => Err(IsolatedError {
            cancelled: d.cancelled,
            message: d.message,
        }),
        None => Err(died(ctx, status, last, limits)),
    }
}

/// How a plugin process that never reported ended: its signal or exit
/// code, the memory limit when an allocation beyond it killed it, and its
/// last words.
pub(crate) fn died(
    ctx: &StepContext,
    status: std::process::ExitStatus,
    last: &str,
    limits: &Limits,
) -> IsolatedError {
    #[cfg(unix)]
    let signal = std::os::unix::process::ExitStatusExt::signal(&status);
    #[cfg(not(unix))]
    let signal: Option<i32> = None;
    let what = match signal {
        Some(s) => format!("the plugin process died of {}", signal_name(s)),
        None => format!(
            "the plugin process exited with code {} without reporting",
            status.code().unwrap_or(-1)
        ),
    };
    let memory = match (signal, limits.memory_limit_mb) {
        (Some(6), Some(mb)) => format!(
            "; it has a memory limit of {mb} MB (memory_limit_mb), and an allocation beyond it aborts the process"
        ),
        _ => String::new(),
    };
    let last = if last.is_empty() {
        String::new()
    } else {
        format!("; its last message: {last}")
    };
    IsolatedError {
        cancelled: ctx.cancel.load(Ordering::Relaxed),
        message: format!("{what}{memory}{last}"),
    }
}

fn read_frame(r: &mut impl Read) -> Result<Vec<u8>, String> {
    let mut len = [0u8; 8];
    r.read_exact(&mut len).map_err(|e| e.to_string())?;
    let len = u64::from_le_bytes(len) as usize;
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).map_err(|e| e.to_string())?;
    Ok(buf)
}

fn read_batch(r: &mut impl Read) -> Result<(String, RecordBatch), String> {
    let mut n = [0u8; 4];
    r.read_exact(&mut n).map_err(|e| e.to_string())?;
    let mut name = vec![0u8; u32::from_le_bytes(n) as usize];
    r.read_exact(&mut name).map_err(|e| e.to_string())?;
    let name = String::from_utf8(name).map_err(|_| "dataset name is not UTF-8".to_string())?;
    let bytes = read_frame(r)?;
    let mut reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
        .map_err(|e| format!("unreadable batch for `{name}` from the plugin process: {e}"))?;
    let batch = reader
        .next()
        .ok_or_else(|| format!("an empty frame for `{name}`"))?
        .map_err(|e| format!("unreadable batch for `{name}` from the plugin process: {e}"))?;
    Ok((name, batch))
}

/// The message of a child's JSON log line (the line itself otherwise).
fn log_message(line: &str) -> String {
    serde_json::from_str::<serde_json::Value>(line)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(String::from))
        .unwrap_or_else(|| line.to_string())
}

/// Re-logs one of the child's lines at its level.
fn relog(line: &str) {
    let v: Option<serde_json::Value> = serde_json::from_str(line).ok();
    let level = v
        .as_ref()
        .and_then(|v| v.get("level").and_then(|l| l.as_str()).map(str::to_string));
    let msg = log_message(line);
    match level.as_deref() {
        Some("ERROR") => tracing::error!(isolated = true, "{msg}"),
        Some("WARN") => tracing::warn!(isolated = true, "{msg}"),
        Some("INFO") => tracing::info!(isolated = true, "{msg}"),
        Some(_) => tracing::debug!(isolated = true, "{msg}"),
        // Not a log line: something the plugin printed.
        None => tracing::warn!(isolated = true, "plugin output: {msg}"),
    }
}

/// Where the child's frames go: the original stdout, while fd 1 is pointed
/// at stderr so nothing a plugin prints can corrupt them.
struct FrameOut(std::fs::File);

impl FrameOut {
    #[cfg(unix)]
    fn take_stdout() -> std::io::Result<Self> {
        use std::os::fd::FromRawFd;
        // SAFETY: plain descriptor calls on the process's own fds.
        unsafe {
            let fd = libc::dup(1);
            if fd < 0 || libc::dup2(2, 1) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(FrameOut(std::fs::File::from_raw_fd(fd)))
        }
    }

    fn batch(&mut self, name: &str, batch: &RecordBatch) -> std::io::Result<()> {
        let bytes = batch_bytes(batch).map_err(std::io::Error::other)?;
        let mut frame = Vec::with_capacity(bytes.len() + name.len() + 13);
        frame.push(b'B');
        frame.extend((name.len() as u32).to_le_bytes());
        frame.extend(name.as_bytes());
        frame.extend((bytes.len() as u64).to_le_bytes());
        frame.extend(bytes);
        self.0.write_all(&frame)
    }

    fn done(&mut self, d: &Done) -> std::io::Result<()> {
        let body = serde_json::to_vec(d).map_err(std::io::Error::other)?;
        let mut frame = vec![b'D'];
        frame.extend((body.len() as u64).to_le_bytes());
        frame.extend(body);
        self.0.write_all(&frame)?;
        self.0.flush()
    }
}

/// A forwarding emitter for the child: batches go to the parent.
pub struct Forward(Mutex<FrameOut>);

impl Forward {
    /// Sends every batch of `reader` to the parent as `dataset`.
    pub fn emit(
        &self,
        dataset: &str,
        reader: impl arrow_array::RecordBatchReader,
    ) -> Result<(), String> {
        let mut out = self.0.lock().map_err(|_| "poisoned".to_string())?;
        for b in reader {
            let b = b.map_err(|e| format!("unreadable batch for `{dataset}`: {e}"))?;
            out.batch(dataset, &b)
                .map_err(|e| format!("cannot send a batch to the host: {e}"))?;
        }
        Ok(())
    }
}

/// `eqpipe plugin-host`: runs one job from stdin and exits. Never called by
/// users; the exit code is 0 whenever an outcome frame was sent.
#[cfg(unix)]
pub fn child_main() -> i32 {
    let mut out = match FrameOut::take_stdout() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("eqpipe plugin-host: {e}");
            return 2;
        }
    };
    let mut line = String::new();
    let stdin = std::io::stdin();
    if stdin.lock().read_line(&mut line).is_err() {
        return 2;
    }
    let job: Job = match serde_json::from_str(&line) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("eqpipe plugin-host: unreadable job: {e}");
            return 2;
        }
    };
    if let Some(mb) = job.memory_limit_mb {
        let bytes = mb.saturating_mul(1 << 20) as libc::rlim_t;
        let limit = libc::rlimit {
            rlim_cur: bytes,
            rlim_max: bytes,
        };
        // SAFETY: setrlimit with a valid struct.
        if unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) } != 0 {
            eprintln!(
                "eqpipe plugin-host: cannot set the memory limit: {}",
                std::io::Error::last_os_error()
            );
            return 2;
        }
    }
    let cancel = Arc::new(AtomicBool::new(false));
    {
        // A `cancel` line, or the parent going away, cancels.
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            let mut l = String::new();
            loop {
                l.clear();
                match std::io::stdin().lock().read_line(&mut l) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if l.trim() == "cancel" => break,
                    Ok(_) => {}
                }
            }
            cancel.store(true, Ordering::SeqCst);
        });
    }
    let outcome = run_job(job, cancel, &mut out);
    let done = match outcome {
        Ok((fetches, warnings)) => Done {
            ok: true,
            cancelled: false,
            message: String::new(),
            fetches,
            warnings,
        },
        Err((cancelled, message, fetches)) => Done {
            ok: false,
            cancelled,
            message,
            fetches,
            warnings: Vec::new(),
        },
    };
    match out.done(&done) {
        Ok(()) => 0,
        Err(_) => 2,
    }
}

/// Not available off Unix.
#[cfg(not(unix))]
pub fn child_main() -> i32 {
    eprintln!("eqpipe plugin-host: process isolation needs a Unix system");
    2
}

type JobResult =
    Result<(Vec<WireFetch>, Vec<eqpipe_core::manifest::Warning>), (bool, String, Vec<WireFetch>)>;

#[cfg(unix)]
fn run_job(job: Job, cancel: Arc<AtomicBool>, out: &mut FrameOut) -> JobResult {
    let fail = |m: String| Err((false, m, Vec::new()));
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start a runtime: {e}")),
    };
    let fetcher = match crate::fetch::Fetcher::new(
        job.fetch,
        job.cache_dir,
        job.base_dir,
        rt.handle().clone(),
    ) {
        Ok(f) => f,
        Err(e) => return fail(e.to_string()),
    };
    let fetcher = match job.restricted_cache_dir {
        Some(d) => fetcher.with_restricted_cache(d),
        None => fetcher,
    };
    let r = match job.plugin {
        WireRef::Builtin(n) => PluginRef::Builtin(n),
        WireRef::Library(p) => PluginRef::Library(p),
    };
    let plugin = match crate::registry::resolve(&r, job.kind) {
        Ok(p) => p,
        Err(e) => return fail(e.to_string()),
    };
    let mut inputs = HashMap::new();
    for (name, (schema, files)) in job.inputs {
        let schema =
            match arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(schema), None) {
                Ok(r) => r.schema(),
                Err(e) => return fail(format!("unreadable schema of input `{name}`: {e}")),
            };
        inputs.insert(name, (schema, files));
    }
    let frames = FrameOut(match out.0.try_clone() {
        Ok(f) => f,
        Err(e) => return fail(e.to_string()),
    });
    let ctx = StepContext {
        step: job.step,
        plugin,
        fetcher: Arc::new(fetcher),
        cancel,
        sink: Mutex::new(eqpipe_store::sink::Sink::new(
            "isolated",
            HashMap::new(),
            PathBuf::new(),
        )),
        forward: Some(Forward(Mutex::new(frames))),
        pipe: Default::default(),
        inputs,
        fetches: Default::default(),
        warnings: Mutex::new(Vec::new()),
        progress: None,
        personal: job.personal,
        snapshot_date: job.snapshot_date,
        scope: job.scope,
    };
    let result = crate::instance::invoke(&ctx, &job.options);
    let warnings = std::mem::take(&mut *ctx.warnings.lock().expect("not poisoned"));
    let fetches = ctx
        .fetches
        .into_records()
        .into_iter()
        .map(|f| WireFetch {
            url: f.url,
            from_cache: f.from_cache,
            bytes: f.bytes,
            fetched_at: f.fetched_at,
            request: f.request,
            digest: f.digest,
        })
        .collect();
    match result {
        Ok(()) => Ok((fetches, warnings)),
        Err(f) => Err((
            f.status == eqpipe_core::manifest::StepStatus::Cancelled,
            f.message,
            fetches,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(text: &str) -> String {
        let last = Mutex::new(LastWords::default());
        relog_lines(text.as_bytes(), &last);
        last_words(&last.into_inner().unwrap())
    }

    #[test]
    fn the_reason_survives_a_long_backtrace_after_it() {
        let mut text = String::from("working\nmemory allocation of 1073741824 bytes failed\n");
        text.push_str("stack backtrace:\n");
        for i in 0..40 {
            text.push_str(&format!("  {i}: frame\n             at src/lib.rs:{i}:1\n"));
        }
        text.push_str("note: Some details are omitted, run with `RUST_BACKTRACE=full`\n");
        assert_eq!(said(&text), "memory allocation of 1073741824 bytes failed");
    }

    #[test]
    fn without_a_reason_the_last_line_that_says_something() {
        assert_eq!(said("one\ntwo\n\n"), "two");
        assert_eq!(said(""), "");
    }
}
