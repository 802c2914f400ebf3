//! A throwaway Postgres started by the test from the server binaries Debian installs
//! (`/usr/lib/postgresql/<version>/bin`, or `initdb` on PATH): its own data directory in a
//! temporary directory, on 127.0.0.1 and a free port, stopped and removed on drop.
//!
//! Postgres refuses to run as root, so as root it runs as the `postgres` user.

use std::{
    os::unix::fs::{MetadataExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
    process::{Command, Output},
};

/// A running Postgres; `pg_ctl stop -m immediate` and the directory removed on drop.
pub struct Postgres {
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    as_postgres: bool,
    _dir: tempfile::TempDir,
}

/// What a throwaway server should serve with.
pub struct Tls<'a> {
    pub cert: &'a Path,
    pub key: &'a Path,
}

fn required() -> bool {
    std::env::var("MINOOTS_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// The directory holding `initdb` and `pg_ctl`: on PATH, else Debian's newest version.
fn binaries() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                return Some(dir);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

impl Postgres {
    /// Starts a server that accepts only TLS connections on 127.0.0.1 (`hostssl ... trust`,
    /// `hostnossl ... reject`), user `postgres`, database `postgres`. Returns None after saying
    /// so when the binaries are missing or initdb fails, unless `MINOOTS_REQUIRE_SERVICES=1`,
    /// when that is a failure.
    pub fn start_tls(test: &str, tls: Tls<'_>) -> Option<Self> {
        match Self::try_start(tls) {
            Ok(server) => Some(server),
            Err(reason) if required() => {
                panic!("MINOOTS_REQUIRE_SERVICES=1 but no throwaway Postgres for {test}: {reason}")
            }
            Err(reason) => {
                eprintln!("SKIPPED {test}: no throwaway Postgres: {reason}");
                None
            }
        }
    }

    fn try_start(tls: Tls<'_>) -> Result<Self, String> {
        let bin = binaries().ok_or(
            "initdb and pg_ctl are neither on PATH nor in /usr/lib/postgresql/*/bin \
             (Debian package `postgresql`)",
        )?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        // initdb refuses root: then the server and its files belong to `postgres`.
        let as_postgres = std::fs::metadata(dir.path())
            .map_err(|e| e.to_string())?
            .uid()
            == 0;
        let data = dir.path().join("data");
        let cert = dir.path().join("server.pem");
        let key = dir.path().join("server.key");
        std::fs::copy(tls.cert, &cert).map_err(|e| format!("copying the certificate: {e}"))?;
        std::fs::copy(tls.key, &key).map_err(|e| format!("copying the key: {e}"))?;
        // Postgres refuses a key others may read.
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| e.to_string())?;
        if as_postgres {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path()))?;
        }
        let server = Self {
            port: free_port(),
            bin,
            data,
            as_postgres,
            _dir: dir,
        };
        server.command("initdb", |c| {
            c.arg("-D")
                .arg(&server.data)
                .args([
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "--no-sync",
                    "--no-instructions",
                ])
                .args(["-E", "UTF8", "--locale", "C"])
        })?;
        let port = server.port;
        let socket_dir = server.data.parent().unwrap();
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\n\
             ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\nfsync = off\n",
            socket_dir.display(),
            cert.display(),
            key.display(),
        );
        append(&server.data.join("postgresql.conf"), &conf)?;
        std::fs::write(
            server.data.join("pg_hba.conf"),
            "local all all trust\n\
             hostssl all all 127.0.0.1/32 trust\n\
             hostnossl all all 127.0.0.1/32 reject\n",
        )
        .map_err(|e| e.to_string())?;
        let log = server.data.parent().unwrap().join("postgres.log");
        // -w: pg_ctl returns once the server accepts connections (its own readiness check).
        let started = server.command("pg_ctl", |c| {
            c.arg("-D")
                .arg(&server.data)
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", "60", "start"])
        });
        if let Err(error) = started {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!("{error}\n{log}"));
        }
        Ok(server)
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres` with `query` (`sslmode=...`).
    pub fn url(&self, query: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?{query}",
            self.port
        )
    }

    fn command(
        &self,
        program: &str,
        args: impl FnOnce(&mut Command) -> &mut Command,
    ) -> Result<Output, String> {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        args(&mut command);
        // The server's own children must not inherit the test's stdio pipes.
        run(command.stdin(std::process::Stdio::null()))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.command("pg_ctl", |c| {
            c.arg("-D")
                .arg(&self.data)
                .args(["-m", "immediate", "-w", "stop"])
        });
    }
}

fn run(command: &mut Command) -> Result<Output, String> {
    let output = command
        .output()
        .map_err(|e| format!("running {command:?}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{command:?} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(output)
}

fn append(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write as _;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// A port nothing listens on now (bound on 127.0.0.1:0 and released for the server to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
