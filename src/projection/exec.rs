//! `kind = "exec"`: the read model is built by another program, in any
//! language. chronicle starts it and writes the events to its stdin as
//! canonical JSON lines, in (received_at, id) order; the program's exit
//! status decides whether the checkpoint advances (at-least-once delivery).

use std::io::{BufWriter, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};

use anyhow::Context;

use crate::event::{format_millis, Millis};

/// Environment given to the program, so that one script can serve both
/// rebuilds and incremental runs.
pub struct ExecEnv<'a> {
    pub projection: &'a str,
    pub mode: &'a str,
    pub since: Option<Millis>,
    pub until: Millis,
}

fn command(argv: &[String], env: &ExecEnv<'_>) -> Command {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env("CHRONICLE_PROJECTION", env.projection)
        .env("CHRONICLE_MODE", env.mode)
        .env("CHRONICLE_UNTIL", format_millis(env.until));
    match env.since {
        Some(since) => cmd.env("CHRONICLE_SINCE", format_millis(since)),
        None => cmd.env_remove("CHRONICLE_SINCE"),
    };
    cmd
}

fn describe(argv: &[String]) -> String {
    argv.join(" ")
}

fn check(argv: &[String], status: ExitStatus, what: &str) -> anyhow::Result<()> {
    if status.success() {
        return Ok(());
    }
    match status.code() {
        Some(code) => anyhow::bail!("{what} `{}` exited with status {code}", describe(argv)),
        None => anyhow::bail!(
            "{what} `{}` was killed by a signal ({status})",
            describe(argv)
        ),
    }
}

/// Runs the `reset` command to completion (its stdin is empty).
pub fn run_reset(argv: &[String], env: &ExecEnv<'_>) -> anyhow::Result<()> {
    let status = command(argv, env)
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("cannot start reset command `{}`", describe(argv)))?;
    check(argv, status, "reset command")
}

/// A running projection program and the pipe to its stdin.
pub struct ExecSink {
    argv: Vec<String>,
    child: Child,
    stdin: Option<BufWriter<ChildStdin>>,
    pub written: u64,
}

impl ExecSink {
    pub fn start(argv: &[String], env: &ExecEnv<'_>) -> anyhow::Result<ExecSink> {
        let mut child = command(argv, env)
            .stdin(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start command `{}`", describe(argv)))?;
        let stdin = child
            .stdin
            .take()
            .map(|s| BufWriter::with_capacity(1 << 16, s));
        Ok(ExecSink {
            argv: argv.to_vec(),
            child,
            stdin,
            written: 0,
        })
    }

    /// Writes one event's line (its canonical JSON and `\n`), rendered by
    /// the caller, e.g. on a reader thread.
    pub fn write_line(&mut self, line: &str) -> anyhow::Result<()> {
        let stdin = self.stdin.as_mut().expect("stdin is open until finish");
        if let Err(e) = stdin.write_all(line.as_bytes()) {
            // The program stopped reading: its exit status says why.
            let status = self.child.wait()?;
            check(&self.argv, status, "command")?;
            anyhow::bail!(
                "command `{}` stopped reading its input after {} events ({e})",
                describe(&self.argv),
                self.written
            );
        }
        self.written += 1;
        Ok(())
    }

    /// Closes stdin and waits; only a zero exit status is success.
    pub fn finish(mut self) -> anyhow::Result<u64> {
        if let Some(mut stdin) = self.stdin.take() {
            let flushed = stdin.flush();
            drop(stdin);
            let status = self.child.wait()?;
            check(&self.argv, status, "command")?;
            flushed.with_context(|| {
                format!(
                    "command `{}` stopped reading its input",
                    describe(&self.argv)
                )
            })?;
        }
        Ok(self.written)
    }

    /// Stops the program without a clean end of input, so that it does not
    /// take a partial stream for a complete one.
    pub fn abort(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
