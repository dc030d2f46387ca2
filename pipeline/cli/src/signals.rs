//! Signals: Ctrl-C and SIGTERM stop after the current step (a second stops
//! at once); SIGHUP asks the daemon to reload its config.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Runs `watch` on a thread of its own with a small runtime for the signal
/// streams (none if the runtime cannot start: signals then do nothing).
fn on_own_thread<F: Future<Output = ()> + Send + 'static>(watch: F) {
    std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            rt.block_on(watch);
        }
    });
}

/// Sets `cancel` on Ctrl-C or SIGTERM; a second signal exits at once.
pub(crate) fn cancel_on_signal(cancel: Arc<AtomicBool>) {
    on_own_thread(async move {
        #[cfg(unix)]
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        loop {
            #[cfg(unix)]
            let got = async {
                match term.as_mut() {
                    Some(t) => {
                        tokio::select! {
                            _ = tokio::signal::ctrl_c() => {},
                            _ = t.recv() => {},
                        }
                    }
                    None => {
                        let _ = tokio::signal::ctrl_c().await;
                    }
                }
            };
            #[cfg(not(unix))]
            let got = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            got.await;
            if cancel.swap(true, Ordering::SeqCst) {
                eprintln!("eqpipe: stopping now");
                std::process::exit(130);
            }
            eprintln!(
                "eqpipe: stopping after the current step (signal again to stop at once); outputs stay as they were"
            );
        }
    });
}

/// Sets `reload` on SIGHUP.
pub(crate) fn reload_on_hangup(reload: Arc<AtomicBool>) {
    #[cfg(unix)]
    on_own_thread(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            eprintln!("eqpipe: reloading the config");
            reload.store(true, Ordering::SeqCst);
        }
    });
    #[cfg(not(unix))]
    let _ = reload;
}
