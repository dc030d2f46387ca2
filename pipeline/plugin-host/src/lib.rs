//! The host side of the plugin ABI: finding plugins ([`registry`]: the
//! built-ins table it is handed and partner libraries), the services
//! vtable and step context handed to a plugin ([`host`]), one instance's
//! life ([`instance`]), process isolation ([`isolate`]), process plugins
//! in any language ([`process`]) and the fetch layer
//! every plugin's HTTP and file reads go through ([`fetch`]).
//!
//! **Architecture invariants.**
//! - It is the only host crate with `unsafe` code (every other carries
//!   `#![forbid(unsafe_code)]`).
//! - No plugin function is called before the descriptor's major version and
//!   size are checked. Every `extern "C"` callback runs inside `guarded`, so
//!   nothing unwinds across the boundary; whoever allocates frees.
//! - An isolated plugin sends back frames only; the parent's sink validates
//!   and stores them.
//! - It knows nothing about disclosure control, catalogues, reports or
//!   schedules, and knows a partnership only as a `Scope`: a list of denied
//!   folders.

#![deny(unreachable_pub)]

pub mod fetch;
pub mod host;
pub mod instance;
pub mod isolate;
pub mod process;
pub mod registry;
