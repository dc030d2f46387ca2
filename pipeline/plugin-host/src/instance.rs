//! One plugin instance's life: `create`, `run`, `destroy`, in this process
//! or (under `isolation = "process"`) in a child, with the failure mapped
//! to a step status.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use eqpipe_core::config::Isolation;
use eqpipe_core::manifest::StepStatus;
use eqpipe_plugin_abi as abi;
use eqpipe_store::sink::Sink;

use crate::fetch::Fetcher;
use crate::host::StepContext;
use crate::registry::Plugin;

/// Why a step did not succeed.
pub struct StepFailure {
    pub status: StepStatus,
    pub message: String,
}

impl StepFailure {
    /// A failure with this message.
    pub fn failed(message: impl Into<String>) -> Self {
        StepFailure {
            status: StepStatus::Failed,
            message: message.into(),
        }
    }
}

/// Calls create, run and destroy on one plugin instance.
pub fn invoke(ctx: &StepContext, options: &str) -> Result<(), StepFailure> {
    let crate::registry::Entry::Abi(desc) = &ctx.plugin.entry else {
        return Err(StepFailure::failed(
            "a process plugin has no library to call",
        ));
    };
    let api = ctx.host_api();
    let (create, run, destroy) = (
        desc.create.expect("checked at load"),
        desc.run.expect("checked at load"),
        desc.destroy.expect("checked at load"),
    );
    let read_err = |code: i32, err: &mut abi::PluginError| {
        // SAFETY: the plugin filled `err` (or left it empty).
        let mut msg = unsafe { err.message.take() };
        if msg.is_empty() {
            msg = abi::status_name(code).to_string();
        }
        let status = if code == abi::STATUS_CANCELLED {
            StepStatus::Cancelled
        } else {
            StepStatus::Failed
        };
        StepFailure {
            status,
            message: format!("{} ({})", msg, abi::status_name(code)),
        }
    };
    let mut instance = std::ptr::null_mut();
    let mut err = abi::PluginError::none();
    // SAFETY: ABI call with valid arguments; `ctx` outlives it.
    let code = unsafe { create(abi::StrRef::new(options), &api, &mut instance, &mut err) };
    if code != abi::STATUS_OK {
        return Err(read_err(code, &mut err));
    }
    let mut err = abi::PluginError::none();
    // SAFETY: as above; `instance` came from create.
    let code = unsafe { run(instance, &api, &mut err) };
    // SAFETY: destroy exactly once.
    unsafe { destroy(instance) };
    if code != abi::STATUS_OK {
        return Err(read_err(code, &mut err));
    }
    if ctx.cancel.load(Ordering::Relaxed) {
        return Err(StepFailure {
            status: StepStatus::Cancelled,
            message: "cancelled".into(),
        });
    }
    Ok(())
}

/// Runs the step's plugin, in this process or its own.
pub fn run_plugin(
    ctx: &StepContext,
    options: &serde_json::Value,
    isolated: &Option<(eqpipe_core::config::PluginRef, crate::isolate::Limits)>,
) -> Result<(), StepFailure> {
    if let crate::registry::Entry::Process(program) = &ctx.plugin.entry {
        let limits = isolated
            .as_ref()
            .map(|(_, l)| l.clone())
            .unwrap_or_default();
        tracing::info!(
            command = %program,
            timeout_secs = limits.timeout.map(|t| t.as_secs()),
            memory_limit_mb = limits.memory_limit_mb,
            "running a process plugin"
        );
        return crate::process::invoke(ctx, program, options, &limits).map_err(|e| StepFailure {
            status: if e.cancelled {
                StepStatus::Cancelled
            } else {
                StepStatus::Failed
            },
            message: e.message,
        });
    }
    match isolated {
        Some((r, limits)) => {
            tracing::info!(
                timeout_secs = limits.timeout.map(|t| t.as_secs()),
                memory_limit_mb = limits.memory_limit_mb,
                "running in its own process"
            );
            crate::isolate::invoke(ctx, r, &options.to_string(), limits).map_err(|e| StepFailure {
                status: if e.cancelled {
                    StepStatus::Cancelled
                } else {
                    StepStatus::Failed
                },
                message: e.message,
            })
        }
        None => invoke(ctx, &options.to_string()),
    }
}

/// The plugin and limits of a step under `isolation = "process"`.
pub fn isolation_of(
    isolation: &Isolation,
    r: eqpipe_core::config::PluginRef,
    timeout_secs: Option<u64>,
    memory_limit_mb: Option<u64>,
) -> Option<(eqpipe_core::config::PluginRef, crate::isolate::Limits)> {
    (*isolation == Isolation::Process || r.is_command()).then(|| {
        (
            r,
            crate::isolate::Limits {
                timeout: timeout_secs.map(std::time::Duration::from_secs),
                memory_limit_mb,
            },
        )
    })
}

/// A step context that serves no data, for probing a plugin's entry points
/// (the conformance kit). Keep the returned runtime alive while using it.
pub fn probe_context(plugin: Plugin, scratch: &Path) -> (StepContext, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    let fetcher = Fetcher::new(
        eqpipe_core::config::FetchConfig::default(),
        scratch.join("cache"),
        scratch.to_path_buf(),
        rt.handle().clone(),
    )
    .expect("a fetcher");
    let ctx = StepContext {
        step: "probe".into(),
        plugin,
        fetcher: Arc::new(fetcher),
        cancel: Arc::new(AtomicBool::new(false)),
        sink: Mutex::new(Sink::new(
            "probe",
            HashMap::new(),
            scratch.join("probe.csv"),
        )),
        forward: None,
        pipe: Default::default(),
        inputs: HashMap::new(),
        fetches: Default::default(),
        warnings: Mutex::new(Vec::new()),
        progress: None,
        personal: false,
        snapshot_date: chrono::Utc::now().date_naive().to_string(),
        scope: None,
    };
    (ctx, rt)
}

/// Calls `create` with `options` and, when it succeeds, `destroy`: the
/// conformance kit's probe of how a plugin answers options it cannot use.
/// `Err` holds the status code and the plugin's message.
pub fn try_create(ctx: &StepContext, options: &str) -> Result<(), (i32, String)> {
    let crate::registry::Entry::Abi(desc) = &ctx.plugin.entry else {
        return Err((abi::STATUS_UNSUPPORTED, "a process plugin".into()));
    };
    let Some(create) = desc.create else {
        return Err((abi::STATUS_INTERNAL, "no create function".into()));
    };
    let api = ctx.host_api();
    let mut instance = std::ptr::null_mut();
    let mut err = abi::PluginError::none();
    // SAFETY: an ABI call with valid arguments; `ctx` outlives it.
    let code = unsafe { create(abi::StrRef::new(options), &api, &mut instance, &mut err) };
    // SAFETY: the plugin filled `err` or left it empty.
    let msg = unsafe { err.message.take() };
    if code == abi::STATUS_OK {
        if let Some(destroy) = desc.destroy {
            // SAFETY: instance from create, destroyed once.
            unsafe { destroy(instance) };
        }
        return Ok(());
    }
    Err((code, msg))
}
