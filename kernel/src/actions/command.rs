//! Command actions: an allow-listed executable run with argv (no shell), a cleared environment
//! plus PATH and the timer's identity, and a timeout after which it is killed; exit status 0 is
//! success.

use minoots_proto::v1::{CommandAction, Timer};

use super::{Attempt, Executor, failed, refused, truncate, validate_timeout};
use crate::error::{KernelError, Result};

pub(super) fn validate(command: &CommandAction, at: &dyn Fn(&str) -> String) -> Result<()> {
    if command.program.trim().is_empty() {
        return Err(KernelError::invalid(at("command.program"), "is required"));
    }
    if command.program.contains('\0') || command.args.iter().any(|a| a.contains('\0')) {
        return Err(KernelError::invalid(
            at("command.args"),
            "must not contain NUL bytes",
        ));
    }
    validate_timeout(&at("command.timeout"), command.timeout.as_ref())
}

impl Executor {
    pub(super) async fn command(
        &self,
        timer: &Timer,
        command: &CommandAction,
        key: &str,
    ) -> Attempt {
        let config = &self.inner.config;
        if !config.commands.contains(&command.program) {
            return refused(format!(
                "refused: {:?} is not an allow-listed command (MINOOTS_COMMAND_ALLOW)",
                command.program
            ));
        }
        let mut process = tokio::process::Command::new(&command.program);
        process
            .args(&command.args)
            // No shell, and no environment of the kernel's beyond PATH.
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(&command.env)
            .env("MINOOTS_TIMER_ID", &timer.id)
            .env("MINOOTS_TIMER_NAME", &timer.name)
            .env("MINOOTS_TENANT_ID", &timer.tenant_id)
            .env("MINOOTS_IDEMPOTENCY_KEY", key)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        if !command.working_dir.is_empty() {
            process.current_dir(&command.working_dir);
        }
        let timeout = self.timeout(command.timeout.as_ref());
        let output = match tokio::time::timeout(timeout, process.output()).await {
            Err(_) => {
                return failed(
                    format!("timed out after {timeout:?} (killed)"),
                    String::new(),
                );
            }
            Ok(Err(error)) => {
                return refused(format!("could not start {:?}: {error}", command.program));
            }
            Ok(Ok(output)) => output,
        };
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        let text = truncate(text, config.output_limit);
        let detail = output.status.to_string();
        if output.status.success() {
            Ok((detail, text))
        } else {
            failed(detail, text)
        }
    }
}
