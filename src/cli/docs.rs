//! `completions` and `man`: what shells and `man` need, generated from the clap definitions so
//! they can never disagree with `--help`.

use std::path::Path;

use anyhow::Context;
use clap::CommandFactory;

use super::args::Cli;
use super::{Exit, output};

/// The top-level entry point for `completions`: the script for `shell` on stdout.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<Exit> {
    let mut command = Cli::command();
    output::stdout(|out| {
        clap_complete::generate(shell, &mut command, "image-manager", out);
        Ok(())
    })?;
    Ok(Exit::Success)
}

/// The top-level entry point for `man`: the man page (section 1, roff) on stdout, or with
/// `dir` every page (`image-manager.1`, `image-manager-plan.1`, …) written into it.
pub fn man(dir: Option<&Path>) -> anyhow::Result<Exit> {
    let command = Cli::command();
    match dir {
        Some(dir) => clap_mangen::generate_to(command, dir)
            .with_context(|| format!("writing man pages into {}", dir.display()))?,
        None => output::stdout(|out| clap_mangen::Man::new(command).render(out))?,
    }
    Ok(Exit::Success)
}
