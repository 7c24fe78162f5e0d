//! A real `dcgan-inpaint serve` process on an ephemeral port for the API and page tests,
//! stopped with SIGTERM when dropped, and a small blocking HTTP client for it.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    child: Child,
    /// http://127.0.0.1:PORT
    pub url: String,
    /// The access token the server printed in its URL (`?token=...`), sent with every request.
    pub token: Option<String>,
    agent: ureq::Agent,
}

pub struct Reply {
    pub status: u16,
    pub headers: ureq::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

impl Server {
    /// `serve --port 0` plus `args`; waits for the URL it prints.
    pub fn start(args: &[&str]) -> Server {
        Server::start_env(args, &[])
    }

    /// [`Server::start`] with these environment variables set.
    pub fn start_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dcgan-inpaint"))
            .args(["serve", "--port", "0"])
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("dcgan-inpaint serve starts");
        let stdout = child.stdout.take().expect("its stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(at) = line.find("http://") {
                    let url = line[at..].split_whitespace().next().unwrap_or("").trim_end_matches('/').to_string();
                    let _ = tx.send(url);
                }
            }
        });
        let printed: String = match rx.recv_timeout(Duration::from_secs(180)) {
            Ok(url) => url,
            Err(_) => {
                let status = child.try_wait().ok().flatten();
                let _ = child.kill();
                panic!("dcgan-inpaint serve printed no URL within 180 s (exit status: {status:?}); see its stderr above");
            }
        };
        let (url, token) = match printed.split_once("/?token=") {
            Some((url, token)) => (url.to_string(), Some(token.to_string())),
            None => (printed.trim_end_matches('/').to_string(), None),
        };
        let config = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(300))).build();
        Server { child, url, token, agent: config.into() }
    }

    /// The server's exit status once it has ended on its own (a refused start-up), with
    /// what it printed on stderr.
    pub fn refused(args: &[&str]) -> (i32, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_dcgan-inpaint")).args(["serve", "--port", "0"]).args(args).output().expect("dcgan-inpaint serve runs");
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    /// `request` with the token, when the server has one.
    fn authorised<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(t) => request.header("authorization", format!("Bearer {t}")),
            None => request,
        }
    }

    pub fn addr(&self) -> String {
        self.url.trim_start_matches("http://").to_string()
    }

    fn reply(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>, what: &str) -> Reply {
        let mut r = r.unwrap_or_else(|e| panic!("{what}: {e}"));
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.body_mut().with_config().limit(64 << 20).read_to_vec().unwrap_or_else(|e| panic!("{what}: reading the body: {e}"));
        Reply { status, headers, body }
    }

    pub fn get(&self, path: &str) -> Reply {
        self.get_with(path, &[])
    }

    /// GET with extra headers (e.g. an Origin).
    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        Self::reply(Self::with_headers(self.authorised(self.agent.get(format!("{}{path}", self.url))), headers).call(), &format!("GET {path}"))
    }

    pub fn delete(&self, path: &str) -> Reply {
        self.delete_with(path, &[])
    }

    pub fn delete_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        Self::reply(Self::with_headers(self.authorised(self.agent.delete(format!("{}{path}", self.url))), headers).call(), &format!("DELETE {path}"))
    }

    pub fn post(&self, path: &str, content_type: &str, body: &[u8]) -> Reply {
        self.post_with(path, content_type, body, &[])
    }

    /// POST with extra headers (e.g. an Origin).
    pub fn post_with(&self, path: &str, content_type: &str, body: &[u8], headers: &[(&str, &str)]) -> Reply {
        let r = self.authorised(self.agent.post(format!("{}{path}", self.url))).header("content-type", content_type);
        Self::reply(Self::with_headers(r, headers).send(body), &format!("POST {path}"))
    }

    fn with_headers<B>(mut r: ureq::RequestBuilder<B>, headers: &[(&str, &str)]) -> ureq::RequestBuilder<B> {
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r
    }

    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> Reply {
        self.post(path, "application/json", body.to_string().as_bytes())
    }

    /// A job's Server-Sent Events as (event, data) pairs, read as they arrive; `each` may
    /// return false to hang up early.
    pub fn events(&self, path: &str, mut each: impl FnMut(&str, &serde_json::Value) -> bool) -> Vec<(String, serde_json::Value)> {
        let r = self.authorised(self.agent.get(format!("{}{path}", self.url))).call().unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert_eq!(r.status().as_u16(), 200, "GET {path}");
        let mut reader = BufReader::new(r.into_body().into_reader());
        let (mut out, mut event, mut line) = (Vec::new(), String::new(), String::new());
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return out;
            }
            let l = line.trim_end();
            if let Some(name) = l.strip_prefix("event: ") {
                event = name.to_string();
            } else if let Some(data) = l.strip_prefix("data: ") {
                let value: serde_json::Value = serde_json::from_str(data).expect("event data is JSON");
                let go_on = each(&event, &value);
                out.push((event.clone(), value));
                if !go_on {
                    return out;
                }
            }
        }
    }

    /// Poll `/api/v1/stats` until `ready` holds (at most `seconds`).
    pub fn wait_stats(&self, seconds: u64, what: &str, ready: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let start = Instant::now();
        loop {
            let stats = self.get("/api/v1/stats").json();
            if ready(&stats) {
                return stats;
            }
            assert!(start.elapsed() < Duration::from_secs(seconds), "{what}: not within {seconds} s; stats {stats}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A raw request (to send what a well-behaved client would not); returns the answer's
    /// head (status line and headers).
    pub fn raw(&self, request: &[u8]) -> String {
        let mut s = std::net::TcpStream::connect(self.addr()).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(60))).ok();
        let _ = s.write_all(request);
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let text = String::from_utf8_lossy(&head).into_owned();
        text.split("\r\n\r\n").next().unwrap_or("").to_string()
    }

    /// The Host header this server answers to: its own address.
    pub fn host(&self) -> String {
        self.addr()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Base64 of a file's bytes.
pub fn base64_file(path: &std::path::Path) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(std::fs::read(path).expect("a test image"))
}

/// A multipart/form-data body: (name, filename or "", bytes) per field; returns (content type, body).
pub fn multipart(fields: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----dcgan-inpaint-test-boundary";
    let mut body = Vec::new();
    for (name, file, bytes) in fields {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        if file.is_empty() {
            body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes());
        } else {
            body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: image/png\r\n\r\n").as_bytes());
        }
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}
