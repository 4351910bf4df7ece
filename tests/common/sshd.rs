//! A private sshd on 127.0.0.1 for the tests that reach another machine
//! (sshfs, SFTP): its own host and user keys in a folder of the test, root
//! logging in with the key only; it goes away when dropped.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{need, need_root};

pub struct Sshd {
    child: Child,
    pub port: u16,
    /// Where its keys and configuration are.
    pub dir: PathBuf,
}

impl Sshd {
    pub fn start(dir: &Path) -> Sshd {
        need_root("start sshd");
        need("/usr/sbin/sshd", "openssh-server");
        need("ssh-keygen", "openssh-client");
        for key in ["host_key", "user_key"] {
            let ok = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(dir.join(key))
                .status()
                .unwrap();
            assert!(ok.success());
        }
        fs::copy(dir.join("user_key.pub"), dir.join("authorized_keys")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.join("sshd_config");
        let d = dir.display();
        fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\n\
                 PidFile {d}/sshd.pid\nAuthorizedKeysFile {d}/authorized_keys\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\n\
                 StrictModes no\nUsePAM no\nSubsystem sftp internal-sftp\n"
            ),
        )
        .unwrap();
        fs::create_dir_all("/run/sshd").unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Listening once a connection is taken.
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Sshd {
            child,
            port,
            dir: dir.to_path_buf(),
        }
    }

    /// ssh's options to log in with the test's key, as `-o` words.
    pub fn options(&self) -> Vec<String> {
        vec![
            format!("IdentityFile={}/user_key", self.dir.display()),
            "StrictHostKeyChecking=no".into(),
            "UserKnownHostsFile=/dev/null".into(),
            "LogLevel=ERROR".into(),
            format!("Port={}", self.port),
        ]
    }

    /// The ssh command that logs in there, for `-e`.
    pub fn ssh(&self) -> String {
        let mut cmd = String::from("ssh");
        for o in self.options() {
            cmd.push_str(" -o ");
            cmd.push_str(&o);
        }
        cmd
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
