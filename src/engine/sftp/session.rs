//! One SFTP connection: the ssh process (`ssh HOST -s sftp`, or the command
//! `-e` gives), the client speaking SFTP over its pipes, and the small runtime
//! that drives the client. The copy's workers are plain threads that block on
//! one request each (`run`); the client sends every worker's requests down the
//! one connection as they come, so many workers keep many requests in flight.

use std::future::Future;
use std::io;
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use openssh_sftp_client::{Sftp, SftpOptions};
use tokio::io::AsyncReadExt;

use super::errors;
pub use crate::config::Remote;

/// Why the other machine could not be reached. Nothing was written.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach {host} over ssh: {why}")]
pub struct ConnectError {
    pub host: String,
    pub why: String,
}

pub(crate) struct Session {
    sftp: Sftp,
    /// What ssh said on its error output, for the message when it fails.
    said: Arc<Mutex<Vec<u8>>>,
    /// Killed when the session ends (it ends with the run).
    _child: tokio::process::Child,
    pub host: String,
    /// Files being written at once over this connection, all workers
    /// together (see [`FILES_IN_FLIGHT`]).
    pub files: tokio::sync::Semaphore,
    /// The connection was found gone: nothing more can be asked of it.
    lost: std::sync::atomic::AtomicBool,
    /// The server listed `.` in a folder (see `listings::list_at`).
    dots: std::sync::atomic::AtomicBool,
    /// Whom it reaches and how, for the connections a big file adds.
    remote: Remote,
    /// The shortest of a few requests' round trips, measured at the start.
    rtt: Arc<OnceLock<Duration>>,
    /// The connections a big file's pieces go over besides this one,
    /// opened when the first such file comes (see [`Session::spread`]).
    helpers: OnceLock<Vec<Session>>,
    /// Last, so it outlives the client's tasks.
    rt: tokio::runtime::Runtime,
}

/// Bytes of one file's writes in flight at once: what a link's round trip
/// times its speed needs (20 ms at 400 MB/s), bounded per file.
pub(crate) const IN_FLIGHT: usize = 8 * 1024 * 1024;

/// Small files in flight on one connection at most. Many in flight is what
/// makes SFTP fast (a file's requests cost round trips, not bandwidth); past
/// a few hundred, OpenSSH's server fell behind in bursts here (5,000 files
/// over loopback: 0.7 s with up to 400 in flight, 0.7 to 8 s with 3,200).
pub(crate) const FILES_IN_FLIGHT: usize = 512;

/// Files from this size on go over several connections where the round
/// trip is long (see [`Session::spread`]): opening one costs a few round
/// trips and a login, worth it only for a file that takes a while.
pub(crate) const SPREAD_FROM: u64 = 64 * 1024 * 1024;

/// How many connections a big file goes over when the user said nothing:
/// one SSH channel moves at most its window (2 MiB with OpenSSH) each round
/// trip, 100 MB/s at 20 ms, less than the cipher here does on one core
/// (`tests/bench/RESULTS.md`); under 5 ms one is enough. At most 4, as
/// rclone's streams of one file.
fn connections_for(rtt: Duration) -> usize {
    (1 + rtt.as_millis() as usize / 5).min(4)
}

/// How long the connection may take to answer SFTP's first message (ssh's own
/// connect timeout covers the network; this, a server that never starts).
const HELLO_TIMEOUT: Duration = Duration::from_secs(60);

/// The words of `rsh` as a shell would split them, quotes kept together.
fn words(rsh: &str) -> Vec<String> {
    let (mut out, mut word, mut quote, mut any) = (Vec::new(), String::new(), None, false);
    for ch in rsh.chars() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(ch);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
                any = false;
            }
            (None, c) => word.push(c),
        }
    }
    if any || !word.is_empty() {
        out.push(word);
    }
    out
}

/// The command line that starts the SFTP subsystem on `remote`.
pub(crate) fn command_line(remote: &Remote) -> Vec<String> {
    let mut cmd = words(remote.rsh.as_deref().unwrap_or("ssh"));
    if cmd.is_empty() {
        cmd.push("ssh".into());
    }
    let is_ssh = std::path::Path::new(&cmd[0])
        .file_name()
        .is_some_and(|n| n == "ssh");
    if is_ssh {
        // Never a prompt nobody can answer (the screen is the TUI's, or
        // nobody is there): a key or an agent, or a clear failure. A
        // connection that stops answering ends, instead of hanging the copy.
        for o in [
            "BatchMode=yes",
            "ConnectTimeout=30",
            "ServerAliveInterval=15",
            "ServerAliveCountMax=4",
        ] {
            cmd.extend(["-o".to_string(), o.to_string()]);
        }
    }
    // ssh takes an IPv6 address without the brackets.
    let host = remote.host.replace(['[', ']'], "");
    cmd.extend([host, "-s".into(), "sftp".into()]);
    cmd
}

/// Where the user's ssh would use OpenSSH's default cipher order and the
/// CPU has AES instructions, asks for AES-GCM first: chacha20-poly1305 (the
/// default's first) moved 1 GiB in 3.11 s here, AES-GCM in 2.12 s
/// (`tests/bench/RESULTS.md`); both are in the default list, so only the
/// order changes. A cipher the user chose (their config, `-c` or `-o` in
/// `-e`) is left as it is: `ssh -G` shows the list ssh would offer, compared
/// with the one it offers with no configuration at all.
/// Decided once per command line: a big file's added connections and the
/// TUI's listers would each ask ssh twice again.
fn prefer_aes_gcm(cmd: &mut Vec<String>) {
    static DECIDED: Mutex<Vec<(Vec<String>, Option<String>)>> = Mutex::new(Vec::new());
    let known = {
        let decided = DECIDED.lock().unwrap_or_else(|p| p.into_inner());
        decided
            .iter()
            .find(|(c, _)| c == cmd)
            .map(|(_, o)| o.clone())
    };
    let order = known.unwrap_or_else(|| {
        let order = gcm_order(cmd);
        let mut decided = DECIDED.lock().unwrap_or_else(|p| p.into_inner());
        decided.push((cmd.clone(), order.clone()));
        order
    });
    if let Some(order) = order {
        let at = cmd.len() - 3;
        cmd.splice(at..at, ["-o".to_string(), format!("Ciphers={order}")]);
    }
}

/// The cipher list to ask `cmd`'s ssh for, if not its own (see
/// [`prefer_aes_gcm`]).
fn gcm_order(cmd: &[String]) -> Option<String> {
    let is_ssh = std::path::Path::new(&cmd[0])
        .file_name()
        .is_some_and(|n| n == "ssh");
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    if !is_ssh || !has_aes(&cpu) || cmd.len() < 3 {
        return None;
    }
    let (before, host) = (&cmd[..cmd.len() - 3], &cmd[cmd.len() - 3]);
    let offered = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new(&before[0])
            .args(&before[1..])
            .args(args)
            .args(["-G", host])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("ciphers ").map(str::to_string))
    };
    let (theirs, plain) = (offered(&[])?, offered(&["-F", "/dev/null"])?);
    gcm_first(&theirs, &plain)
}

/// Whether /proc/cpuinfo names the AES instructions (x86's `aes` flag,
/// ARM's `aes` feature).
fn has_aes(cpuinfo: &str) -> bool {
    cpuinfo
        .lines()
        .filter(|l| l.starts_with("flags") || l.starts_with("Features"))
        .any(|l| l.split_whitespace().any(|w| w == "aes"))
}

/// The default list `plain` with its AES-GCM ciphers first, where `theirs`
/// (what the user's ssh offers) is that default and it has them.
fn gcm_first(theirs: &str, plain: &str) -> Option<String> {
    if theirs != plain {
        return None;
    }
    let (gcm, rest): (Vec<&str>, Vec<&str>) = plain.split(',').partition(|c| c.contains("-gcm@"));
    if gcm.is_empty() || plain.split(',').next().is_some_and(|c| c.contains("-gcm@")) {
        return None;
    }
    Some([gcm, rest].concat().join(","))
}

impl Session {
    /// Starts ssh and speaks SFTP with the server it reaches.
    pub fn connect(remote: &Remote) -> Result<Session, ConnectError> {
        let fail = |why: String| ConnectError {
            host: remote.host.clone(),
            why,
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("convoy-engine-sftp")
            .enable_all()
            .build()
            .map_err(|e| fail(format!("cannot start its runtime ({e})")))?;
        let mut cmd = command_line(remote);
        prefer_aes_gcm(&mut cmd);
        let said = Arc::new(Mutex::new(Vec::new()));
        let started = rt.block_on(async {
            let mut child = tokio::process::Command::new(&cmd[0])
                .args(&cmd[1..])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("cannot run {} ({e})", cmd[0]))?;
            let (stdin, stdout) = (child.stdin.take(), child.stdout.take());
            if let Some(mut err) = child.stderr.take() {
                let said = Arc::clone(&said);
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    while let Ok(n @ 1..) = err.read(&mut buf).await {
                        let mut s = said.lock().unwrap_or_else(|p| p.into_inner());
                        // Its last words are what matter; a chatty ssh is cut.
                        if s.len() < 64 * 1024 {
                            s.extend_from_slice(&buf[..n]);
                        }
                    }
                });
            }
            let (stdin, stdout) = stdin.zip(stdout).ok_or("no pipes to ssh")?;
            let options = SftpOptions::new()
                .flush_interval(Duration::ZERO)
                .tokio_compat_file_write_limit(
                    std::num::NonZeroUsize::new(IN_FLIGHT).expect("not zero"),
                );
            let hello = tokio::time::timeout(HELLO_TIMEOUT, Sftp::new(stdin, stdout, options));
            match hello.await {
                Ok(Ok(sftp)) => {
                    // Measured beside what the copy asks first, not before it.
                    let (rtt, fs) = (Arc::new(OnceLock::new()), sftp.fs());
                    let measured = Arc::clone(&rtt);
                    tokio::spawn(async move {
                        let _ = measured.set(round_trip(fs).await);
                    });
                    Ok((sftp, child, rtt))
                }
                Ok(Err(e)) => {
                    // Its own words say why (a refused key, an unknown host).
                    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Err(e.to_string())
                }
                Err(_) => Err(format!("no answer in {} s", HELLO_TIMEOUT.as_secs())),
            }
            .map_err(|e: String| e)
        });
        match started {
            Ok((sftp, child, rtt)) => Ok(Session {
                sftp,
                said,
                _child: child,
                host: remote.host.clone(),
                lost: Default::default(),
                dots: Default::default(),
                remote: remote.clone(),
                rtt,
                helpers: OnceLock::new(),
                files: tokio::sync::Semaphore::new(FILES_IN_FLIGHT),
                rt,
            }),
            Err(e) => {
                let why = last_words(&said).unwrap_or(e);
                Err(fail(explain(why)))
            }
        }
    }

    /// Runs one request to its answer on the calling thread.
    pub fn run<T>(
        &self,
        f: impl Future<Output = Result<T, openssh_sftp_client::Error>>,
    ) -> io::Result<T> {
        self.rt
            .block_on(f)
            .map_err(|e| self.lost_why(errors::to_io(e)))
    }

    /// Runs `f` to its end on the calling thread.
    pub fn block_on<T>(&self, f: impl Future<Output = T>) -> T {
        self.rt.block_on(f)
    }

    /// Runs `f` on the runtime, to its end, without waiting for it.
    pub fn spawn(&self, f: impl Future<Output = ()> + Send + 'static) {
        self.rt.spawn(f);
    }

    /// Starts `f` on the runtime now; its answer, to wait for later (so
    /// many requests are in flight while the caller waits for the first).
    pub fn spawn_answer<T: Send + 'static, F>(
        &self,
        f: F,
    ) -> impl Future<Output = io::Result<T>> + use<T, F>
    where
        F: Future<Output = io::Result<T>> + Send + 'static,
    {
        let task = self.rt.spawn(f);
        async move {
            task.await
                .unwrap_or_else(|e| Err(io::Error::other(format!("a request's task failed: {e}"))))
        }
    }

    /// Runs every task at once on the runtime and waits for them all: each
    /// one's answer, in order (`None` for a task that died).
    pub fn all<T: Send + 'static, F>(&self, tasks: impl IntoIterator<Item = F>) -> Vec<Option<T>>
    where
        F: Future<Output = T> + Send + 'static,
    {
        self.rt.block_on(async {
            let mut set = tokio::task::JoinSet::new();
            let mut n = 0;
            for (i, task) in tasks.into_iter().enumerate() {
                set.spawn(async move { (i, task.await) });
                n += 1;
            }
            let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
            while let Some(done) = set.join_next().await {
                if let Ok((i, r)) = done {
                    out[i] = Some(r);
                }
            }
            out
        })
    }

    /// The round trip measured at the start: waited for a few seconds at
    /// most (a connection that never answered it is taken as near).
    fn round_trip(&self) -> Duration {
        for _ in 0..500 {
            if let Some(rtt) = self.rtt.get() {
                return *rtt;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Duration::ZERO
    }

    /// The connections a big file goes over: this one first, then those
    /// the round trip (or `--connections`) asks for, opened at the first
    /// call, together. One that cannot be opened, or is lost since, is left
    /// out: the file goes over fewer.
    pub fn spread(&self) -> Vec<&Session> {
        let helpers = self.helpers.get_or_init(|| {
            let n = match self.remote.connections {
                Some(n) => n,
                None => connections_for(self.round_trip()),
            };
            std::thread::scope(|s| {
                let opening: Vec<_> = (1..n)
                    .map(|_| s.spawn(|| Session::connect(&self.remote).ok()))
                    .collect();
                opening
                    .into_iter()
                    .filter_map(|o| o.join().ok().flatten())
                    .collect()
            })
        });
        std::iter::once(self)
            .chain(helpers.iter().filter(|h| !h.is_lost()))
            .collect()
    }

    pub fn sftp(&self) -> &Sftp {
        &self.sftp
    }

    /// The server was seen listing `.` in a folder.
    pub fn lists_dots(&self) {
        self.dots.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the server was seen listing `.` in a folder.
    pub fn listed_dots(&self) -> bool {
        self.dots.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether the connection was found gone.
    pub fn is_lost(&self) -> bool {
        self.lost.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A lost connection says what ssh said as it went (and is remembered).
    pub fn lost_why(&self, e: io::Error) -> io::Error {
        if !errors::is_lost(&e) {
            return e;
        }
        self.lost.store(true, std::sync::atomic::Ordering::Relaxed);
        match last_words(&self.said) {
            Some(w) => errors::lost(&format!("ssh: {w}")),
            None => e,
        }
    }
}

/// The shortest of three requests' round trips on the new connection
/// (`realpath` of its home: nothing for the server to do but answer).
async fn round_trip(mut fs: openssh_sftp_client::fs::Fs) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let asked = Instant::now();
        if fs.canonicalize(".").await.is_err() {
            return Duration::ZERO;
        }
        best = best.min(asked.elapsed());
    }
    best
}

/// The last line ssh wrote on its error output.
fn last_words(said: &Mutex<Vec<u8>>) -> Option<String> {
    let said = said.lock().unwrap_or_else(|p| p.into_inner());
    String::from_utf8_lossy(&said)
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map(str::to_string)
}

/// ssh's words, with what to do where they mean it would have asked.
fn explain(why: String) -> String {
    let asks = ["Permission denied", "Host key verification failed"];
    if asks.iter().any(|a| why.contains(a)) {
        format!(
            "{why} (convoy lets ssh ask nothing: load the key into ssh-agent, or \
             add the host to known_hosts with one plain `ssh` first)"
        )
    } else {
        why
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rsh_command_splits_as_a_shell_would() {
        assert_eq!(words("ssh -p 2222"), ["ssh", "-p", "2222"]);
        assert_eq!(
            words(r#"ssh -i "/my keys/id" -o 'X=a b'"#),
            ["ssh", "-i", "/my keys/id", "-o", "X=a b"]
        );
        assert_eq!(words("  "), Vec::<String>::new());
    }

    #[test]
    fn ssh_is_told_never_to_ask_and_the_address_loses_its_brackets() {
        let r = Remote {
            host: "me@[::1]".into(),
            rsh: Some("/usr/bin/ssh -p 22".into()),
            connections: None,
        };
        let cmd = command_line(&r);
        assert_eq!(cmd[..3], ["/usr/bin/ssh", "-p", "22"]);
        assert!(cmd.contains(&"BatchMode=yes".to_string()));
        assert_eq!(cmd[cmd.len() - 3..], ["me@::1", "-s", "sftp"]);
        // Another program gets only the host and the subsystem.
        let r = Remote {
            host: "h".into(),
            rsh: Some("fake-ssh".into()),
            connections: None,
        };
        assert_eq!(command_line(&r), ["fake-ssh", "h", "-s", "sftp"]);
    }

    #[test]
    fn aes_gcm_goes_first_only_where_the_user_chose_no_cipher() {
        let default = "chacha20-poly1305@openssh.com,aes128-ctr,aes128-gcm@openssh.com,aes256-gcm@openssh.com";
        assert_eq!(
            gcm_first(default, default).as_deref(),
            Some(
                "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr"
            )
        );
        // Their own choice, or a default with no AES-GCM: as it is.
        assert_eq!(gcm_first("aes128-ctr", default), None);
        assert_eq!(
            gcm_first(
                "chacha20-poly1305@openssh.com",
                "chacha20-poly1305@openssh.com"
            ),
            None
        );
        assert!(has_aes("processor : 0\nflags\t\t: fpu sse2 aes avx\n"));
        assert!(!has_aes("flags\t\t: fpu sse2 avx\n"));
        assert!(has_aes("Features\t: fp asimd aes pmull sha1\n"));
    }

    #[test]
    fn a_long_round_trip_gets_more_connections_up_to_four() {
        let ms = Duration::from_millis;
        assert_eq!(connections_for(ms(0)), 1);
        assert_eq!(connections_for(ms(4)), 1);
        assert_eq!(connections_for(ms(10)), 3);
        assert_eq!(connections_for(ms(20)), 4);
        assert_eq!(connections_for(ms(300)), 4);
    }

    #[test]
    fn a_failed_login_says_what_to_do() {
        let why = explain("me@h: Permission denied (publickey).".into());
        assert!(why.contains("ssh-agent"), "{why}");
    }
}
