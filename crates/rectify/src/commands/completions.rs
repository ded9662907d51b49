//! `rectify completions` and `rectify man`: shell completion scripts and
//! manual pages generated from the command-line definition itself, so
//! they list exactly the commands and options this binary has.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;

use crate::cli::Cli;

pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<u8> {
    let mut command = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(shell, &mut command, "rectify", &mut out);
    out.flush()?;
    Ok(0)
}

pub fn man(dir: Option<&Path>) -> anyhow::Result<u8> {
    let command = Cli::command();
    match dir {
        None => {
            let mut out = std::io::stdout().lock();
            clap_mangen::Man::new(command).render(&mut out)?;
            out.flush()?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
            clap_mangen::generate_to(command, dir).map_err(|e| {
                anyhow::anyhow!("cannot write the pages into {}: {e}", dir.display())
            })?;
        }
    }
    Ok(0)
}
