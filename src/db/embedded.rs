//! The embedded PostgreSQL cluster: when no database URL is configured,
//! gridcrm runs its own cluster from the machine's installed server binaries.
//!
//! It listens on 127.0.0.1 only (its Unix socket lives inside the data
//! directory) and requires a password that is generated at `initdb` and kept
//! beside the data directory with mode 0600. PostgreSQL refuses to run as
//! root; started as root, the cluster runs as the unprivileged `postgres`
//! account (Debian's package creates it), which then owns the data directory.
//!
//! Several gridcrm processes may use one cluster (a server, and an admin
//! command run beside it), and the last one to leave stops it. Every process
//! using the cluster holds a shared `flock` on `pg-users.lock` beside the data
//! directory; starting and leaving happen under an exclusive lock on
//! `pg-startstop.lock`, so two processes never start the cluster at once and
//! none joins while another stops it. The kernel releases a process's locks
//! however it ends, `kill -9` included, so a cluster whose users all died is
//! an orphan: the next process adopts it and stops it when it leaves. (A pid
//! file checked with `kill(pid, 0)` would say the same less well: a reused
//! pid looks alive, and two processes starting at once both see no owner.)

use std::{
    ffi::OsStr,
    fs::File,
    net::TcpListener,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, bail};
use rand::{Rng, distributions::Alphanumeric};
use tokio::process::Command;

const SUPERUSER: &str = "gridcrm";
const UNPRIVILEGED_ACCOUNT: &str = "postgres";

/// A PostgreSQL cluster this process uses, and stops if it is the last to leave.
pub struct EmbeddedPostgres {
    bin: PathBuf,
    data_dir: PathBuf,
    port: u16,
    password: String,
    as_account: Option<&'static str>,
    /// Held (shared) while this process uses the cluster; `None` once it left.
    users_lock: Option<File>,
    /// A throwaway cluster (a test run's): see [`EmbeddedPostgres::start_scratch`].
    scratch: bool,
}

/// How [`EmbeddedPostgres::restart`] stops the server.
#[derive(Clone, Copy, Debug)]
pub enum StopMode {
    /// Ends the sessions (their transactions roll back) and shuts down cleanly.
    Fast,
    /// Kills the server as a crash would; it recovers from its WAL on start.
    Immediate,
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
    /// `data_dir`, or joins it if it is already running: the cluster of
    /// another gridcrm process, or an orphan, which this process then adopts.
    pub async fn start(data_dir: &Path) -> anyhow::Result<EmbeddedPostgres> {
        Self::start_as(data_dir, false).await
    }

    /// As [`EmbeddedPostgres::start`], for a cluster whose data may be lost
    /// (a test run's, deleted when it ends): no `fsync`, no full-page images,
    /// and at most 1 GB of WAL between checkpoints, so that hundreds of
    /// databases made from a template do not fill the disk with WAL. Only the
    /// server's settings differ; a crash of the server alone still recovers.
    pub async fn start_scratch(data_dir: &Path) -> anyhow::Result<EmbeddedPostgres> {
        Self::start_as(data_dir, true).await
    }

    async fn start_as(data_dir: &Path, scratch: bool) -> anyhow::Result<EmbeddedPostgres> {
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
        // Held until start-up is over: nobody else starts, joins or stops meanwhile.
        let _transition = lock_exclusive(&home).await?;
        let users_lock = open_lock(&home.join(USERS_LOCK))?;
        let others_use_it = users_lock.try_lock().is_err();
        users_lock.unlock()?;
        // Not a user until start-up succeeds: dropping a failed start must not try to stop.
        let mut cluster = EmbeddedPostgres {
            bin,
            data_dir: data_dir.clone(),
            port: 0,
            password: String::new(),
            as_account,
            users_lock: None,
            scratch,
        };
        if !data_dir.join("PG_VERSION").exists() {
            cluster.init(&password_file).await?;
        }
        cluster.password = std::fs::read_to_string(&password_file)
            .with_context(|| format!("reading {}", password_file.display()))?
            .trim()
            .to_owned();
        if let Some(port) = cluster.running_port().await {
            if others_use_it {
                tracing::info!(dir = %data_dir.display(), port, "joining the embedded PostgreSQL another gridcrm process uses");
            } else {
                tracing::warn!(dir = %data_dir.display(), port, "adopting an embedded PostgreSQL left running by a process that ended; it stops when this one does");
            }
            cluster.port = port;
        } else {
            cluster.port = cluster.port_to_start_on()?;
            cluster.start_server().await?;
            tracing::info!(dir = %data_dir.display(), port = cluster.port, "embedded PostgreSQL started");
        }
        users_lock.lock_shared().context("taking the embedded PostgreSQL's users lock")?;
        cluster.users_lock = Some(users_lock);
        Ok(cluster)
    }

    /// Starts the server on `self.port` and waits until it accepts connections.
    async fn start_server(&self) -> anyhow::Result<()> {
        let log = self.home().join("pg.log");
        self.give_to_account(&log, false)?;
        // A bulk step (a month of a million customers' bills) writes
        // gigabytes of WAL: with the default 1 GB between checkpoints it
        // checkpoints several times a statement, rewriting whole pages.
        let durability = if self.scratch {
            "-c fsync=off -c full_page_writes=off -c max_wal_size=1GB"
        } else {
            "-c max_wal_size=8GB"
        };
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c max_connections=200 -c shared_buffers=512MB {durability}",
            self.port,
            self.data_dir.display()
        );
        let started = self
            .pg_ctl(
                &[OsStr::new("-l"), log.as_os_str(), OsStr::new("-w"), OsStr::new("-t"), OsStr::new("60")],
                "start",
                Some(&options),
            )
            .await?;
        if !started {
            bail!("the embedded PostgreSQL did not start; see {}", log.display());
        }
        Ok(())
    }

    /// Stops the server the given way and, after `down_for`, starts it again
    /// on the same port, for every process using it. For fault drills and
    /// maintenance; the caller keeps its place among the cluster's users.
    pub async fn restart(&self, mode: StopMode, down_for: Duration) -> anyhow::Result<()> {
        let _transition = lock_exclusive(&self.home()).await?;
        let mode = match mode {
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        };
        let stopped = self.pg_ctl(&[OsStr::new("-m"), OsStr::new(mode), OsStr::new("-w")], "stop", None).await?;
        anyhow::ensure!(stopped, "the embedded PostgreSQL did not stop");
        tokio::time::sleep(down_for).await;
        self.start_server().await
    }

    /// The port of the cluster's last run if it is free, so that processes
    /// still using a cluster that went down find it again; else any free one.
    fn port_to_start_on(&self) -> anyhow::Result<u16> {
        let last = std::fs::read_to_string(self.data_dir.join("postmaster.opts")).ok().and_then(|o| port_option(&o));
        match last {
            Some(port) if TcpListener::bind(("127.0.0.1", port)).is_ok() => Ok(port),
            _ => free_port(),
        }
    }

    /// The port the cluster listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The folder holding the data directory, its password, log and locks.
    fn home(&self) -> PathBuf {
        self.data_dir.parent().expect("the data directory has a parent").to_path_buf()
    }

    /// URL of the cluster's superuser for `database`.
    pub fn superuser_url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}:{}@127.0.0.1:{}/{database}", self.password, self.port)
    }

    /// Leaves the cluster, and stops it if no other process uses it. Safe to call twice.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        let Some(users_lock) = self.users_lock.take() else {
            return Ok(());
        };
        let _transition = lock_exclusive(&self.home()).await?;
        if self.last_to_leave(users_lock) {
            self.pg_ctl(&[OsStr::new("-m"), OsStr::new("fast"), OsStr::new("-w")], "stop", None).await?;
        }
        Ok(())
    }

    /// [`stop`](Self::stop) without a runtime, for exit handlers and `Drop`.
    pub fn stop_blocking(&mut self) {
        let Some(users_lock) = self.users_lock.take() else {
            return;
        };
        let Ok(transition) = open_lock(&self.home().join(TRANSITION_LOCK)) else {
            return;
        };
        if transition.lock().is_ok() && self.last_to_leave(users_lock) {
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

    /// Gives up this process's place among the users (the transition lock
    /// held); true when nobody else is left, so the cluster should stop.
    fn last_to_leave(&self, users_lock: File) -> bool {
        let _ = users_lock.unlock();
        let alone = users_lock.try_lock().is_ok();
        if !alone {
            tracing::info!(dir = %self.data_dir.display(), "the embedded PostgreSQL stays up for the other gridcrm processes using it");
        }
        alone
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
        // A group of its own: Ctrl-C at a terminal goes to the foreground
        // group, and must reach gridcrm (which drains its jobs, then stops the
        // cluster), not PostgreSQL, which would shut down under those jobs.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
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

const USERS_LOCK: &str = "pg-users.lock";
const TRANSITION_LOCK: &str = "pg-startstop.lock";

/// Opens (creating) a lock file. The descriptor is close-on-exec, so the
/// server processes we spawn never inherit a lock.
fn open_lock(path: &Path) -> anyhow::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}

/// Takes the start/stop lock beside the data directory, waiting (off the
/// async threads) while another process starts or stops the cluster.
async fn lock_exclusive(home: &Path) -> anyhow::Result<File> {
    let file = open_lock(&home.join(TRANSITION_LOCK))?;
    let waiting = file.try_clone()?;
    tokio::task::spawn_blocking(move || waiting.lock())
        .await?
        .context("waiting for another process to finish starting or stopping the embedded PostgreSQL")?;
    Ok(file)
}

/// The `-p` port in a postmaster.opts line (`postgres "-D" "…" "-p" "5433" …`).
fn port_option(opts: &str) -> Option<u16> {
    let mut words = opts.split_whitespace().map(|w| w.trim_matches('"'));
    words.find(|w| *w == "-p")?;
    words.next()?.parse().ok()
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

    #[test]
    fn the_last_port_is_read_from_postmaster_opts() {
        let opts =
            r#"/usr/lib/postgresql/15/bin/postgres "-D" "/tmp/x/pg" "-p" "42475" "-c" "listen_addresses=127.0.0.1""#;
        assert_eq!(port_option(opts), Some(42475));
        assert_eq!(port_option(r#"postgres "-D" "/tmp/x/pg""#), None);
        assert_eq!(port_option(r#"postgres "-p""#), None);
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
        // The starter leaving first leaves it to the process still using it, which stops it.
        let mut last = EmbeddedPostgres::start(&data).await.expect("joins");
        first.stop().await.unwrap();
        first.stop().await.unwrap();
        assert!(std::net::TcpStream::connect(("127.0.0.1", first.port)).is_ok(), "still used");
        last.stop().await.unwrap();
        assert!(std::net::TcpStream::connect(("127.0.0.1", first.port)).is_err(), "stopped");
        // It starts again on the same data, with the same password, on the same port (still free).
        let mut again = EmbeddedPostgres::start(&data).await.expect("restarts");
        assert_eq!(again.password, first.password);
        assert_eq!(again.port, first.port);
        again.stop().await.unwrap();
        std::fs::remove_dir_all(&home).ok();
    }
}
