//! Command actions: an allow-listed executable run with argv (no shell), a cleared environment
//! plus PATH and the timer's identity, and a timeout after which it is killed; exit status 0 is
//! success.
//!
//! What runs is the operator's choice, never the caller's: each allow-listed name is resolved to
//! an absolute path once, when the server starts (through the server's own PATH), and executed
//! by that path. A caller's `env` may not carry variables that change which program runs, what it
//! loads or how its interpreter starts ([`refused_env`]); they are refused when a timer is
//! scheduled, and again when it runs (a timer stored before the check).

use std::{
    collections::BTreeMap,
    ffi::OsStr,
    path::{Path, PathBuf},
};

use minoots_proto::v1::{CommandAction, Timer};

use super::{Attempt, Executor, failed, refused, truncate, validate_timeout};
use crate::error::{KernelError, Result};

/// The executables command actions may run: each name as actions give it, and the absolute path
/// it was resolved to when the server started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandAllowList {
    programs: BTreeMap<String, PathBuf>,
}

impl CommandAllowList {
    /// Resolves each name once. An absolute path is kept as it is; a bare name is looked up in
    /// `search_path` (a PATH value: the server's own), skipping relative entries; a relative path
    /// (`./x`, `bin/x`) is refused. Each must be an executable file.
    pub fn resolve<S: AsRef<str>>(
        names: impl IntoIterator<Item = S>,
        search_path: Option<&OsStr>,
    ) -> Result<Self, String> {
        let mut programs = BTreeMap::new();
        for name in names {
            let name = name.as_ref().trim();
            if name.is_empty() {
                continue;
            }
            let given = Path::new(name);
            let path = if given.is_absolute() {
                executable(given)
                    .then(|| given.to_path_buf())
                    .ok_or_else(|| format!("{name:?} is not an executable file"))?
            } else if name.contains('/') {
                return Err(format!(
                    "{name:?}: give a bare name (looked up in the server's PATH) or an absolute path"
                ));
            } else {
                search_path
                    .into_iter()
                    .flat_map(std::env::split_paths)
                    .filter(|dir| dir.is_absolute())
                    .map(|dir| dir.join(name))
                    .find(|candidate| executable(candidate))
                    .ok_or_else(|| format!("{name:?} is not an executable in the server's PATH"))?
            };
            programs.insert(name.to_owned(), path);
        }
        Ok(Self { programs })
    }

    /// [`resolve`](Self::resolve) through this process's PATH.
    pub fn from_server_path<S: AsRef<str>>(
        names: impl IntoIterator<Item = S>,
    ) -> Result<Self, String> {
        Self::resolve(names, std::env::var_os("PATH").as_deref())
    }

    /// The absolute path an allow-listed name runs.
    pub fn get(&self, name: &str) -> Option<&Path> {
        self.programs.get(name).map(PathBuf::as_path)
    }

    pub fn is_empty(&self) -> bool {
        self.programs.is_empty()
    }

    /// Each allowed name and the path it runs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Path)> {
        self.programs
            .iter()
            .map(|(name, path)| (name.as_str(), path.as_path()))
    }
}

fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Why a caller may not set the environment variable `name`, if it may not. Names are compared
/// without regard to case. Refused: names that are not names (empty, with `=` or NUL); PATH;
/// the dynamic loader's (`LD_*`, `DYLD_*`, `GCONV_PATH`, `GLIBC_TUNABLES`, ...); what shells run
/// or parse at start (`ENV`, `BASH_ENV`, `BASH_FUNC_*`, `IFS`, `SHELLOPTS`, ...); interpreters'
/// module paths and start options (`PYTHON*`, `PERL*`, `RUBY*`, `NODE_OPTIONS`, `NODE_PATH`,
/// `JAVA_TOOL_OPTIONS`, `CLASSPATH`, ...); and `MINOOTS_*`, the identity the server sets.
pub fn refused_env(name: &str) -> Option<&'static str> {
    const EXACT: &[(&str, &str)] = &[
        ("PATH", "it chooses the programs that run"),
        ("IFS", "it changes how shells split words"),
        ("CDPATH", "it changes where shells change directory"),
        ("ENV", "shells run the file it names"),
        ("BASH_ENV", "bash runs the file it names"),
        ("SHELLOPTS", "it changes how shells run"),
        ("BASHOPTS", "it changes how bash runs"),
        ("PS4", "bash expands it while tracing"),
        ("PROMPT_COMMAND", "bash runs it"),
        ("GLOBIGNORE", "it changes how shells expand"),
        ("GCONV_PATH", "the C library loads modules from it"),
        ("GLIBC_TUNABLES", "it changes how the C library runs"),
        ("NLSPATH", "the C library loads catalogs from it"),
        ("LOCPATH", "the C library loads locales from it"),
        ("HOSTALIASES", "it changes name resolution"),
        ("RESOLV_HOST_CONF", "it changes name resolution"),
        ("NODE_OPTIONS", "node takes start options from it"),
        ("NODE_PATH", "node loads modules from it"),
        ("CLASSPATH", "java loads classes from it"),
        ("JAVA_TOOL_OPTIONS", "java takes start options from it"),
        ("_JAVA_OPTIONS", "java takes start options from it"),
        ("JDK_JAVA_OPTIONS", "java takes start options from it"),
    ];
    const PREFIXES: &[(&str, &str)] = &[
        ("LD_", "the dynamic loader reads it"),
        ("DYLD_", "the dynamic loader reads it"),
        ("BASH_FUNC_", "bash imports functions from it"),
        ("PYTHON", "python loads code or takes options from it"),
        ("PERL", "perl loads code or takes options from it"),
        ("RUBY", "ruby loads code or takes options from it"),
        ("MINOOTS_", "the server sets the timer's identity"),
    ];
    if name.is_empty() || name.contains(['=', '\0']) {
        return Some("not a variable name");
    }
    let upper = name.to_ascii_uppercase();
    EXACT
        .iter()
        .find(|(exact, _)| upper == *exact)
        .or_else(|| {
            PREFIXES
                .iter()
                .find(|(prefix, _)| upper.starts_with(prefix))
        })
        .map(|(_, why)| *why)
}

/// The first variable of `env` a caller may not set, with the reason.
fn first_refused<'a>(
    env: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Option<(&'a str, &'static str)> {
    env.into_iter()
        .find_map(|(name, value)| match refused_env(name) {
            Some(why) => Some((name.as_str(), why)),
            None if value.contains('\0') => Some((name.as_str(), "its value has a NUL byte")),
            None => None,
        })
}

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
    if let Some((name, why)) = first_refused(&command.env) {
        return Err(KernelError::invalid(
            at("command.env"),
            format!("{name:?} may not be set: {why}"),
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
        let Some(program) = config.commands.get(&command.program) else {
            return refused(format!(
                "refused: {:?} is not an allow-listed command (MINOOTS_COMMAND_ALLOW)",
                command.program
            ));
        };
        if let Some((name, why)) = first_refused(&command.env) {
            return refused(format!(
                "refused: env {name:?} may not be set by a caller: {why}"
            ));
        }
        // Run by the path resolved at start; PATH, set after the caller's variables, is the
        // server's, for whatever the program itself looks up.
        let mut process = tokio::process::Command::new(program);
        process
            .args(&command.args)
            // No shell, and no environment of the kernel's beyond PATH.
            .env_clear()
            .envs(&command.env)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn allow_listed_names_resolve_once_through_the_given_path() {
        let dir = tempfile::tempdir().unwrap();
        let tool = dir.path().join("tool");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "not executable").unwrap();
        let search = std::env::join_paths([Path::new("relative"), dir.path()]).unwrap();

        let list = CommandAllowList::resolve(["tool", " "], Some(&search)).unwrap();
        assert_eq!(list.get("tool"), Some(tool.as_path()));
        assert_eq!(list.iter().count(), 1);
        let absolute = tool.display().to_string();
        let list = CommandAllowList::resolve([absolute.as_str()], None).unwrap();
        assert_eq!(list.get(&absolute), Some(tool.as_path()));
        assert_eq!(list.get("tool"), None, "names match exactly as listed");

        for bad in ["plain", "missing", "./tool", "bin/tool"] {
            let error = CommandAllowList::resolve([bad], Some(&search)).unwrap_err();
            assert!(error.contains(bad), "{error}");
        }
        let not_executable = plain.display().to_string();
        assert!(CommandAllowList::resolve([not_executable], None).is_err());
    }

    #[test]
    fn variables_that_change_what_runs_are_refused() {
        for name in [
            "PATH",
            "Path",
            "LD_PRELOAD",
            "DYLD_LIBRARY_PATH",
            "PYTHONSTARTUP",
            "A=B",
        ] {
            assert!(refused_env(name).is_some(), "{name}");
        }
        for name in ["GREETING", "HOME", "LANG", "RUST_LOG", "TZ"] {
            assert_eq!(refused_env(name), None, "{name}");
        }
    }
}
