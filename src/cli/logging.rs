//! Log setup: tracing to stderr, so stdout stays for the command's output (plans, reports).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use super::args::{GlobalArgs, LogFormat};

/// Installs the global subscriber. `RUST_LOG` overrides the level chosen by `-v`/`-q`.
pub fn init(global: &GlobalArgs) {
    // Libraries (the OpenStack SDK in particular) log their own view of failures that this
    // tool reports once, with context; they are shown only from -vv on.
    let directives = match (global.quiet, global.verbose) {
        (true, _) => "image_manager=error",
        (false, 0) => "image_manager=info",
        (false, 1) => "image_manager=debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(directives));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let _ = match global.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
