//! Log setup: tracing to stderr, so stdout stays for the command's output (plans, reports).

use tracing_subscriber::EnvFilter;

use super::args::{GlobalArgs, LogFormat};

/// Installs the global subscriber. `RUST_LOG` overrides the level chosen by `-v`/`-q`.
pub fn init(global: &GlobalArgs) {
    let level = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("image_manager={level},warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match global.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
