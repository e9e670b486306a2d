//! Prepare this thread for real time as the flags say and print what it
//! got: `cargo run -p takt-scheduler --example rt_prepare -- CPU PRIORITY`
//! (either may be `-`). Exits 1 with the error when a step is refused.
//! The manual check for the failure paths a test cannot reach, e.g.
//! `chmod 000 /dev/cpu_dma_latency` as a non-root user.

use takt_scheduler::rt;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| args.get(i).and_then(|s| s.parse::<usize>().ok());
    let cfg = rt::RtConfig {
        cpu: num(0),
        priority: num(1).map(|p| p.min(255) as u8),
        lock_memory: std::env::var_os("NO_MLOCK").is_none(),
        prefault_stack_bytes: rt::DEFAULT_PREFAULT_STACK_BYTES,
        dma_latency: std::env::var_os("NO_DMA").is_none(),
    };
    match rt::prepare(&cfg) {
        Ok(guard) => {
            println!("{}", guard.report().summary());
            for w in &guard.report().warnings {
                println!("warning: {w}");
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rt_prepare: {e}");
            std::process::ExitCode::from(1)
        }
    }
}
