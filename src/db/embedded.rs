//! The embedded PostgreSQL cluster: when no database URL is configured,
//! gridcrm runs its own cluster from the machine's installed server binaries.
//!
//! It listens on 127.0.0.1 only (its Unix socket lives inside the data
//! directory) and requires a password that is generated at `initdb` and kept
//! beside the data directory with mode 0600. PostgreSQL refuses to run as
//! root; started as root, the cluster runs as the unprivileged `postgres`
//! account (Debian's package creates it), which then owns the data directory.
//! A cluster already running on the directory (a server started earlier, while
//! an admin command runs) is used as it is and left running.

use std::{
    ffi::OsStr,
    net::TcpListener,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use rand::{Rng, distributions::Alphanumeric};
use tokio::process::Command;

const SUPERUSER: &str = "gridcrm";
const UNPRIVILEGED_ACCOUNT: &str = "postgres";

/// A PostgreSQL cluster this process uses, and stops if it started it.
pub struct EmbeddedPostgres {
    bin: PathBuf,
    data_dir: PathBuf,
    port: u16,
    password: String,
    as_account: Option<&'static str>,
    /// False when the cluster was already running and belongs to another process.
    owned: bool,
    stopped: bool,
}

/// Finds `initdb` and `pg_ctl`: on PATH if both are there, else the newest
/// version under /usr/lib/postgresql/*/bin (where Debian installs them).
pub fn find_server_binaries() -> anyhow::Result<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).find(|d| has_both(d))) {
        return Ok(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<u32>().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| has_both(bin))
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).context(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH or under /usr/lib/postgresql/*/bin; \
         install them with `apt-get install postgresql` or set GRIDCRM_DATABASE_URL to an existing server",
    )
}

impl EmbeddedPostgres {
    /// Initialises (the first time) and starts the cluster whose data is in
    /// `data_dir`, or joins it if it is already running.
    pub async fn start(data_dir: &Path) -> anyhow::Result<EmbeddedPostgres> {
        let bin = find_server_binaries()?;
        std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
        let data_dir = data_dir.canonicalize()?;
        let home = data_dir.parent().context("the data directory has a parent")?.to_path_buf();
        // SAFETY: geteuid has no preconditions.
        let as_account = (unsafe { libc::geteuid() } == 0).then_some(UNPRIVILEGED_ACCOUNT);
        if let Some(account) = as_account {
            let exists = std::process::Command::new("id").arg(account).output().is_ok_and(|o| o.status.success());
            if !exists {
                bail!(
                    "running as root, the embedded PostgreSQL needs the unprivileged `{account}` account; install Debian's postgresql package or run gridcrm as another user"
                );
            }
        }
        let password_file = home.join("pg-superuser-password");
        let mut cluster = EmbeddedPostgres {
            bin,
            data_dir: data_dir.clone(),
            port: 0,
            password: String::new(),
            as_account,
            owned: true,
            stopped: false,
        };
        if !data_dir.join("PG_VERSION").exists() {
            cluster.init(&password_file).await?;
        }
        cluster.password = std::fs::read_to_string(&password_file)
            .with_context(|| format!("reading {}", password_file.display()))?
            .trim()
            .to_owned();
        if let Some(port) = cluster.running_port().await {
            tracing::info!(dir = %data_dir.display(), port, "using the embedded PostgreSQL that is already running");
            cluster.port = port;
            cluster.owned = false;
            return Ok(cluster);
        }
        cluster.port = free_port()?;
        let log = home.join("pg.log");
        cluster.give_to_account(&log, false)?;
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c max_connections=200 -c shared_buffers=256MB",
            cluster.port,
            data_dir.display()
        );
        let started = cluster
            .pg_ctl(
                &[OsStr::new("-l"), log.as_os_str(), OsStr::new("-w"), OsStr::new("-t"), OsStr::new("60")],
                "start",
                Some(&options),
            )
            .await?;
        if !started {
            bail!("the embedded PostgreSQL did not start; see {}", log.display());
        }
        tracing::info!(dir = %data_dir.display(), port = cluster.port, "embedded PostgreSQL started");
        Ok(cluster)
    }

    /// URL of the cluster's superuser for `database`.
    pub fn superuser_url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}:{}@127.0.0.1:{}/{database}", self.password, self.port)
    }

    /// Stops the cluster if this process started it. Safe to call twice.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if self.owned && !self.stopped {
            self.stopped = true;
            self.pg_ctl(&[OsStr::new("-m"), OsStr::new("fast"), OsStr::new("-w")], "stop", None).await?;
        }
        Ok(())
    }

    /// [`stop`](Self::stop) without a runtime, for exit handlers and `Drop`.
    pub fn stop_blocking(&mut self) {
        if self.owned && !self.stopped {
            self.stopped = true;
            let data_dir = self.data_dir.as_os_str();
            let args: Vec<&OsStr> = vec![
                OsStr::new("-D"),
                data_dir,
                OsStr::new("-m"),
                OsStr::new("fast"),
                OsStr::new("-w"),
                OsStr::new("stop"),
            ];
            let _ = self.command_std(&self.bin.join("pg_ctl"), &args).output();
        }
    }

    async fn init(&self, password_file: &Path) -> anyhow::Result<()> {
        let password: String = rand::thread_rng().sample_iter(&Alphanumeric).take(32).map(char::from).collect();
        std::fs::write(password_file, &password)?;
        std::fs::set_permissions(password_file, std::fs::Permissions::from_mode(0o600))?;
        // initdb reads the password from a file the account can read.
        self.give_to_account(password_file, false)?;
        self.give_to_account(&self.data_dir, true)?;
        std::fs::set_permissions(&self.data_dir, std::fs::Permissions::from_mode(0o700))?;
        tracing::info!(dir = %self.data_dir.display(), "initialising the embedded PostgreSQL cluster");
        for locale in ["C.UTF-8", "C"] {
            let locale_arg = format!("--locale={locale}");
            let pwfile_arg = format!("--pwfile={}", password_file.display());
            let args: Vec<&OsStr> = vec![
                OsStr::new("-D"),
                self.data_dir.as_os_str(),
                OsStr::new("--auth=scram-sha-256"),
                OsStr::new("--username=gridcrm"),
                OsStr::new(&pwfile_arg),
                OsStr::new("--encoding=UTF8"),
                OsStr::new(&locale_arg),
            ];
            let output = self.command(&self.bin.join("initdb"), &args).output().await?;
            if output.status.success() {
                return Ok(());
            }
            tracing::warn!(locale, stderr = %String::from_utf8_lossy(&output.stderr), "initdb failed");
        }
        bail!("initdb failed for {}; see the messages above", self.data_dir.display())
    }

    /// The port of a server already running on this data directory, if any.
    async fn running_port(&self) -> Option<u16> {
        let status = self.pg_ctl(&[], "status", None).await.ok()?;
        if !status {
            return None;
        }
        // postmaster.pid: line 4 is the port.
        let pid_file = std::fs::read_to_string(self.data_dir.join("postmaster.pid")).ok()?;
        pid_file.lines().nth(3)?.trim().parse().ok()
    }

    async fn pg_ctl(&self, extra: &[&OsStr], action: &str, options: Option<&str>) -> anyhow::Result<bool> {
        let mut args: Vec<&OsStr> = vec![OsStr::new("-D"), self.data_dir.as_os_str()];
        args.extend_from_slice(extra);
        if let Some(options) = options {
            args.push(OsStr::new("-o"));
            args.push(OsStr::new(options));
        }
        args.push(OsStr::new(action));
        let output = self.command(&self.bin.join("pg_ctl"), &args).output().await?;
        Ok(output.status.success())
    }

    /// A command run as the unprivileged account when we are root.
    fn command(&self, program: &Path, args: &[&OsStr]) -> Command {
        Command::from(self.command_std(program, args))
    }

    fn command_std(&self, program: &Path, args: &[&OsStr]) -> std::process::Command {
        let mut command = match self.as_account {
            Some(account) => {
                let mut c = std::process::Command::new("runuser");
                c.args(["-u", account, "--"]).arg(program);
                c
            }
            None => std::process::Command::new(program),
        };
        command.args(args).stdin(std::process::Stdio::null());
        command
    }

    /// Hands a file or directory to the unprivileged account (when root).
    fn give_to_account(&self, path: &Path, recursive: bool) -> anyhow::Result<()> {
        let Some(account) = self.as_account else {
            return Ok(());
        };
        if !path.exists() {
            std::fs::write(path, "")?;
        }
        let mut chown = std::process::Command::new("chown");
        if recursive {
            chown.arg("-R");
        }
        let status = chown.arg(format!("{account}:{account}")).arg(path).status()?;
        anyhow::ensure!(status.success(), "could not hand {} to the {account} account", path.display());
        Ok(())
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        self.stop_blocking();
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_binaries_are_found_or_named() {
        match find_server_binaries() {
            Ok(dir) => assert!(dir.join("initdb").is_file() && dir.join("pg_ctl").is_file()),
            Err(err) => assert!(err.to_string().contains("apt-get install postgresql")),
        }
    }

    #[tokio::test]
    async fn a_cluster_starts_is_joined_restarts_and_stops() {
        let home = std::env::temp_dir().join(format!("gridcrm-embedded-test-{}", std::process::id()));
        let data = home.join("pg");
        let mut first = EmbeddedPostgres::start(&data).await.expect("starts");
        let url = first.superuser_url("postgres");
        assert!(url.starts_with("postgres://gridcrm:") && url.contains("@127.0.0.1:"));
        assert!(std::net::TcpStream::connect(("127.0.0.1", first.port)).is_ok());
        let mode = std::fs::metadata(home.join("pg-superuser-password")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the password file is private");
        // A second start on the same directory joins the running cluster and leaves it running.
        let mut joined = EmbeddedPostgres::start(&data).await.expect("joins");
        assert_eq!(joined.port, first.port);
        assert_eq!(joined.password, first.password);
        joined.stop().await.unwrap();
        assert!(std::net::TcpStream::connect(("127.0.0.1", first.port)).is_ok(), "joining does not stop it");
        first.stop().await.unwrap();
        first.stop().await.unwrap();
        assert!(std::net::TcpStream::connect(("127.0.0.1", first.port)).is_err(), "stopped");
        // It starts again on the same data, with the same password.
        let mut again = EmbeddedPostgres::start(&data).await.expect("restarts");
        assert_eq!(again.password, first.password);
        again.stop().await.unwrap();
        std::fs::remove_dir_all(&home).ok();
    }
}
