//! A real `redis-server` for a test: started on a free loopback port,
//! stopped when dropped.
//!
//! Without `redis-server` on the `PATH` a test prints why and passes, so
//! `cargo test` works with the Rust toolchain alone; with
//! `BUTTRESS_REQUIRE_REDIS` set (as `.ci/run` does), its absence fails
//! the test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One `redis-server` process, without persistence.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    /// With TLS: its own port beside the plain one (which the test's own
    /// commands use), and the certificates.
    tls: Option<Tls>,
}

/// A TLS listener's port and files: a test CA, a server certificate for
/// 127.0.0.1 signed by it, and a client certificate signed by it.
pub struct Tls {
    pub port: u16,
    pub dir: PathBuf,
    /// Whether the server asks clients for a certificate.
    pub require_client_cert: bool,
}

impl Tls {
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
    pub fn client_cert_file(&self) -> PathBuf {
        self.dir.join("client.crt")
    }
    pub fn client_key_file(&self) -> PathBuf {
        self.dir.join("client.key")
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Whether `program probe` runs; if not, a test skips (or, with
/// `BUTTRESS_REQUIRE_REDIS` set, fails).
fn present(test: &str, program: &str, probe: &str, package: &str) -> bool {
    let present = Command::new(program)
        .arg(probe)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !present {
        assert!(
            std::env::var_os("BUTTRESS_REQUIRE_REDIS").is_none(),
            "{test}: {program} is not installed, and BUTTRESS_REQUIRE_REDIS is set \
             (apt-get install {package})"
        );
        eprintln!("{test}: skipped: {program} is not installed (apt-get install {package})");
    }
    present
}

/// Makes the test CA and the certificates under `dir` with `openssl`.
fn make_certificates(dir: &Path) {
    std::fs::create_dir_all(dir).expect("a directory for the certificates");
    let openssl = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl runs");
        assert!(status.success(), "openssl {args:?} failed");
    };
    std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-subj",
        "/CN=buttress-test-ca",
    ]);
    for (name, ext) in [("server", "server.ext"), ("client", "client.ext")] {
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN=buttress-test-{name}"),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &format!("{name}.crt"),
            "-days",
            "2",
            "-extfile",
            ext,
        ]);
    }
}

impl RedisServer {
    /// Starts one on a free port, or — when `redis-server` is missing and
    /// `BUTTRESS_REQUIRE_REDIS` is unset — says why and returns `None`.
    pub fn start(test: &str) -> Option<RedisServer> {
        if !present(test, "redis-server", "--version", "redis-server") {
            return None;
        }
        let mut server = RedisServer {
            child: None,
            port: free_port(),
            tls: None,
        };
        server.restart();
        Some(server)
    }

    /// Starts one that also speaks TLS on a port of its own, with fresh
    /// certificates (made with `openssl`, which must be installed like
    /// `redis-server`); with `require_client_cert`, TLS clients must
    /// present a certificate signed by the test CA.
    pub fn start_tls(test: &str, require_client_cert: bool) -> Option<RedisServer> {
        if !present(test, "openssl", "version", "openssl") {
            return None;
        }
        let mut server = RedisServer::start(test)?;
        let dir = std::env::temp_dir().join(format!(
            "buttress-redis-tls-{}-{}",
            std::process::id(),
            server.port
        ));
        make_certificates(&dir);
        server.tls = Some(Tls {
            port: free_port(),
            dir,
            require_client_cert,
        });
        server.restart();
        Some(server)
    }

    /// The TLS listener and its files.
    pub fn tls(&self) -> &Tls {
        self.tls.as_ref().expect("started with start_tls")
    }

    /// The `rediss://` URL of the TLS listener.
    pub fn tls_url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.tls().port)
    }

    /// The URL the limiter connects to.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (as a crash would: no shutdown handshake).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty, and waits until it
    /// answers.
    pub fn restart(&mut self) {
        self.stop();
        let mut command = Command::new("redis-server");
        command
            .args(["--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
            .args(["--port", &self.port.to_string()]);
        if let Some(tls) = &self.tls {
            let file = |name: &str| tls.dir.join(name).display().to_string();
            command
                .args(["--tls-port", &tls.port.to_string()])
                .args(["--tls-cert-file", &file("server.crt")])
                .args(["--tls-key-file", &file("server.key")])
                .args(["--tls-ca-cert-file", &file("ca.crt")])
                .args([
                    "--tls-auth-clients",
                    if tls.require_client_cert { "yes" } else { "no" },
                ]);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.try_command(&["PING"]).is_ok_and(|r| r == "PONG") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// One command; its reply as text (a status, an integer or a bulk
    /// string).
    pub fn command(&self, args: &[&str]) -> String {
        self.try_command(args).expect("redis answers")
    }

    /// `used_memory` from `INFO memory`, in bytes.
    pub fn used_memory(&self) -> u64 {
        let info = self.command(&["INFO", "memory"]);
        info.lines()
            .find_map(|line| line.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("INFO memory has used_memory")
    }

    /// Keys in the database.
    pub fn dbsize(&self) -> u64 {
        self.command(&["DBSIZE"]).parse().expect("an integer")
    }

    fn try_command(&self, args: &[&str]) -> std::io::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        stream.write_all(request.as_bytes())?;
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        let bad = |what: &str| std::io::Error::other(format!("{what}: {line}"));
        match line.as_bytes().first() {
            Some(b'+' | b':') => Ok(line[1..].to_owned()),
            Some(b'$') => {
                let len: usize = line[1..].parse().map_err(|_| bad("bulk length"))?;
                let mut body = vec![0; len + 2];
                reader.read_exact(&mut body)?;
                body.truncate(len);
                String::from_utf8(body).map_err(|_| bad("utf-8"))
            }
            _ => Err(bad("unexpected reply")),
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
