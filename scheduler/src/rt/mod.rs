//! The calling thread and time: preparing a data-path thread for real time
//! ([`prepare`]: CPU pinning, SCHED_FIFO, locked memory, a pre-faulted
//! stack, `/dev/cpu_dma_latency`) and reporting what it got, waiting for an
//! absolute time on a clock ([`wait_until`]), the stop flag that
//! SIGINT/SIGTERM raise so runs end cleanly and still write their reports,
//! and the counting allocator that proves the data path allocates nothing.
//!
//! This folder (not only a single `rt.rs`, as DESIGN.md first had it) is the
//! one place in scheduler/ where `unsafe` is allowed: each file holds one job
//! and each `unsafe` block says why it is sound.

mod alloc;
mod cpu;
mod env;
mod error;
mod policy;
mod report;
mod setup;
mod signals;
mod stack;
mod wake;

pub use alloc::{allocation_counting_active, count_allocations, AllocCounts, CountingAllocator};
pub use cpu::{allowed_cpus, pin_to_cpu};
pub use env::{environment, environment_in, parse_cpu_list, Environment};
pub use error::RtError;
pub use report::RtReport;
pub use setup::{prepare, RtConfig, RtGuard, DEFAULT_PREFAULT_STACK_BYTES};
pub use signals::{install_stop_signals, request_stop, stop_requested};
pub use wake::{
    minimize_timer_slack, sleep_until, wait_until, Wake, WakeConfig, DEFAULT_MARGIN_NS,
};
