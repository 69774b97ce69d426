//! Real node processes on 127.0.0.1 for cluster tests: started from the `clustron` binary,
//! killed (SIGKILL) and waited for when the test ends, whatever happens.

#![allow(dead_code, reason = "each test binary uses part of the harness")]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a node may take to say it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct NodeProcess {
    pub port: u16,
    pub id: String,
    /// Where its metrics endpoint listens (when started with `--metrics`).
    pub metrics: Option<String>,
    args: Vec<String>,
    child: Option<Child>,
}

impl NodeProcess {
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

pub struct Cluster {
    pub nodes: Vec<NodeProcess>,
    pub data: Option<PathBuf>,
    common: Vec<String>,
    /// With access control on: the admin token's file (written by the first node).
    pub token_file: Option<PathBuf>,
}

/// Clears every `CLUSTRON_*` variable of the test's environment from a child's: a node reads
/// each of its flags from one (`--mdns` from CLUSTRON_MDNS, seeds, data directories...), and a
/// test must run the same whatever the shell that started it exported (no multicast, above
/// all).
pub fn clean_env(command: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CLUSTRON_") {
            command.env_remove(name);
        }
    }
    command
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("an address").port()
}

/// Where a node's log goes: `target/test-logs/<test binary>-<pid>/<listen address>.log`,
/// appended to across restarts, so a failing run can be read node by node afterwards.
fn log_file(args: &[String]) -> (PathBuf, std::fs::File) {
    let binary =
        std::env::current_exe().ok().and_then(|exe| exe.file_stem().map(|stem| stem.to_string_lossy().into_owned()));
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-logs").join(format!(
        "{}-{}",
        binary.unwrap_or_default(),
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("a log directory");
    let listen = args.iter().skip_while(|arg| *arg != "--listen").nth(1).cloned().unwrap_or_default();
    let path = dir.join(format!("{}.log", listen.replace([':', '/'], "_")));
    let file = std::fs::OpenOptions::new().create(true).append(true).open(&path).expect("a log file");
    (path, file)
}

/// The last lines of a node's log, for a failure message.
fn log_tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

fn spawn(args: &[String]) -> (Child, String, Option<String>) {
    let (log, stderr) = log_file(args);
    let mut child = clean_env(&mut Command::new(env!("CARGO_BIN_EXE_clustron")))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("the clustron binary starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let (ready, on_ready) = mpsc::channel();
    std::thread::spawn(move || {
        let mut metrics = None;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(address) = line.strip_prefix("metrics ") {
                metrics = Some(address.trim().to_owned());
            }
            if let Some(rest) = line.strip_prefix("ready ") {
                let id = rest.split_whitespace().next().unwrap_or_default().to_owned();
                let _ = ready.send((id, metrics.take()));
            }
        }
    });
    match on_ready.recv_timeout(READY_TIMEOUT) {
        Ok((id, metrics)) => (child, id, metrics),
        Err(_) => {
            let _ = child.kill();
            let status = child.wait();
            panic!(
                "node {args:?} did not become ready within {READY_TIMEOUT:?} ({status:?}); its log {}:\n{}",
                log.display(),
                log_tail(&log)
            );
        }
    }
}

impl Cluster {
    /// Starts `size` nodes: the first bootstraps the cluster with `store`, the others join it.
    /// `common` are extra arguments for every node (a clock, a cluster key...). With
    /// `durable`, each node gets a data directory under a fresh temporary directory.
    pub fn start(size: usize, store: &str, common: &[&str], durable: bool) -> Cluster {
        let data = durable.then(|| {
            let dir = std::env::temp_dir().join(format!("clustron-test-{}-{}", std::process::id(), free_port()));
            std::fs::create_dir_all(&dir).expect("a temporary directory");
            dir
        });
        Cluster::start_with(size, store, common, data)
    }

    /// Like [`start`](Cluster::start), with the nodes' data directories under `data` (removed
    /// when the cluster is dropped).
    pub fn start_with(size: usize, store: &str, common: &[&str], data: Option<PathBuf>) -> Cluster {
        let mut cluster = Cluster {
            nodes: Vec::new(),
            data,
            common: common.iter().map(|s| s.to_string()).collect(),
            token_file: None,
        };
        for index in 0..size {
            cluster.add_node(index, (index == 0).then_some(store));
        }
        cluster
    }

    /// [`start`](Cluster::start) with access control on: the first node writes the admin
    /// token to a file, which the others join with and [`target`](Cluster::target) and
    /// [`admin`](Cluster::admin) use.
    pub fn start_auth(size: usize, store: &str, common: &[&str], durable: bool) -> Cluster {
        let file = std::env::temp_dir().join(format!("clustron-admin-{}-{}.token", std::process::id(), free_port()));
        let path = file.display().to_string();
        let mut args = vec!["--auth", "--admin-token-file", &path, "--token-file", &path];
        args.extend_from_slice(common);
        let mut cluster = Cluster::start(size, store, &args, durable);
        cluster.token_file = Some(file);
        cluster
    }

    /// An admin client of the nodes at `addresses` (with the admin token, if any).
    pub fn admin(&self, addresses: &[String]) -> clustron::admin::Cluster {
        let admin = clustron::admin::Cluster::new(addresses, None).expect("an admin client");
        match &self.token_file {
            Some(file) => {
                admin.with_token(Some(clustron::auth::Secret::from_file(file.to_str().unwrap()).expect("the token")))
            }
            None => admin,
        }
    }

    /// Starts another node that joins through the first running one.
    pub fn add_node(&mut self, index: usize, bootstrap_store: Option<&str>) {
        self.add_node_args(index, bootstrap_store, &[]);
    }

    /// [`add_node`](Cluster::add_node) joining, with `extra` arguments for this node.
    pub fn add_node_with(&mut self, index: usize, extra: &[&str]) {
        self.add_node_args(index, None, extra);
    }

    fn add_node_args(&mut self, index: usize, bootstrap_store: Option<&str>, extra: &[&str]) {
        let port = free_port();
        let mut args: Vec<String> = vec!["node".into(), "--listen".into(), format!("127.0.0.1:{port}")];
        args.extend(self.common.iter().cloned());
        args.extend(extra.iter().map(|arg| arg.to_string()));
        match bootstrap_store {
            Some(store) => args.extend(["--store".to_owned(), store.to_owned()]),
            None => {
                let seed = self.nodes.iter().find(|node| node.is_running()).expect("a running node").address();
                args.extend(["--seed".to_owned(), seed]);
            }
        }
        if let Some(data) = &self.data {
            args.extend(["--data-dir".to_owned(), data.join(format!("node{index}")).display().to_string()]);
        }
        let (child, id, metrics) = spawn(&args);
        self.nodes.push(NodeProcess { port, id, metrics, args, child: Some(child) });
    }

    /// The seeds of every node, for a connection string.
    pub fn seeds(&self) -> String {
        self.nodes.iter().map(NodeProcess::address).collect::<Vec<_>>().join(",")
    }

    pub fn seed_list(&self) -> Vec<clustron::Seed> {
        self.nodes.iter().map(|node| clustron::Seed::new("127.0.0.1", node.port)).collect()
    }

    /// `kill -9`.
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.nodes[index].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP (`stop: true`) or SIGCONT: the process freezes with its sockets open, as a
    /// long GC pause or an overloaded VM would.
    pub fn signal_pause(&self, index: usize, stop: bool) {
        if let Some(child) = &self.nodes[index].child {
            let signal = if stop { "-STOP" } else { "-CONT" };
            let _ = Command::new("kill").args([signal, &child.id().to_string()]).status();
        }
    }

    /// Starts a killed node again with the same arguments (same port, same data directory).
    pub fn restart(&mut self, index: usize) {
        assert!(self.nodes[index].child.is_none(), "node {index} is running");
        let (child, id, metrics) = spawn(&self.nodes[index].args);
        self.nodes[index].child = Some(child);
        self.nodes[index].id = id;
        self.nodes[index].metrics = metrics;
    }

    /// Stops node `index` for good and starts a new, empty node in its place (same port, its
    /// data directory wiped), which joins through another running node: for a node removed
    /// from the cluster, coming back as a new member.
    pub fn replace_node(&mut self, index: usize) {
        self.kill(index);
        let port = self.nodes[index].port;
        let mut args: Vec<String> = vec!["node".into(), "--listen".into(), format!("127.0.0.1:{port}")];
        args.extend(self.common.iter().cloned());
        let seed = self
            .nodes
            .iter()
            .enumerate()
            .find(|(other, node)| *other != index && node.is_running())
            .expect("another running node")
            .1
            .address();
        args.extend(["--seed".to_owned(), seed]);
        if let Some(data) = &self.data {
            let dir = data.join(format!("node{index}"));
            let _ = std::fs::remove_dir_all(&dir);
            args.extend(["--data-dir".to_owned(), dir.display().to_string()]);
        }
        let (child, id, metrics) = spawn(&args);
        self.nodes[index] = NodeProcess { port, id, metrics, args, child: Some(child) };
    }

    /// Starts a killed node again and expects it to refuse to start: answers its exit status
    /// and what it printed on stderr (it is killed if it is still running after a minute).
    pub fn restart_refused(&mut self, index: usize) -> (i32, String) {
        self.restart_refused_with(index, &[])
    }

    /// [`restart_refused`](Cluster::restart_refused) with `extra` arguments this time.
    pub fn restart_refused_with(&mut self, index: usize, extra: &[&str]) -> (i32, String) {
        use std::io::Read;
        assert!(self.nodes[index].child.is_none(), "node {index} is running");
        let mut child = clean_env(&mut Command::new(env!("CARGO_BIN_EXE_clustron")))
            .args(&self.nodes[index].args)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the clustron binary starts");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let status = wait_for_exit(&mut child, READY_TIMEOUT);
        let stderr = reader.join().unwrap_or_default();
        let status = status.unwrap_or_else(|| panic!("node {index} started although it should refuse: {stderr}"));
        (status.code().unwrap_or(-1), stderr)
    }

    /// Waits up to `limit` for a running node to exit by itself; answers its exit status.
    pub fn wait_exit(&mut self, index: usize, limit: Duration) -> Option<i32> {
        let child = self.nodes[index].child.as_mut()?;
        let status = wait_for_exit(child, limit)?;
        self.nodes[index].child = None;
        Some(status.code().unwrap_or(-1))
    }

    /// A file in node `index`'s data directory.
    pub fn data_file(&self, index: usize, path: &str) -> PathBuf {
        self.data.as_ref().expect("a durable cluster").join(format!("node{index}")).join(path)
    }

    /// A connection string for `store` on every node (with the admin token, if any).
    pub fn target(&self, store: &str) -> String {
        self.target_with(store, "")
    }

    /// [`target`](Cluster::target) with more parameters (`name=value&...`).
    pub fn target_with(&self, store: &str, params: &str) -> String {
        let mut all: Vec<String> =
            self.token_file.iter().map(|file| format!("token_file={}", file.display())).collect();
        all.extend((!params.is_empty()).then(|| params.to_owned()));
        let query = if all.is_empty() { String::new() } else { format!("?{}", all.join("&")) };
        format!("clustron://{}/{store}{query}", self.seeds())
    }

    /// Runs the `clustron` command (an operator command) and answers its output.
    pub fn command(&self, args: &[&str]) -> String {
        let output =
            clean_env(&mut Command::new(env!("CARGO_BIN_EXE_clustron"))).args(args).output().expect("clustron runs");
        assert!(output.status.success(), "clustron {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for index in 0..self.nodes.len() {
            self.kill(index);
        }
        if let Some(file) = &self.token_file {
            let _ = std::fs::remove_file(file);
        }
        if let Some(data) = &self.data {
            let _ = std::fs::remove_dir_all(data);
        }
    }
}

/// Waits up to `limit` for `child` to exit; kills it (and answers `None`) if it does not.
fn wait_for_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Retries `attempt` until it answers `Some` or `limit` passes.
/// Scrapes `series` from a node's metrics endpoint.
pub fn metric(node: &NodeProcess, series: &str) -> Option<f64> {
    use std::io::{Read, Write};
    let address = node.metrics.as_ref()?;
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: {address}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

pub fn eventually<T>(limit: Duration, mut attempt: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = attempt() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What a `clustron` command did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Each stdout line as JSON.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}")))
            .collect()
    }
}

/// How long one CLI command may take in a test before it is killed.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `clustron ARGS` with `stdin` as its input; kills it if it runs past a minute.
pub fn clustron(args: &[&str], stdin: &[u8]) -> Run {
    use std::io::{Read, Write};
    let mut child = clean_env(&mut Command::new(env!("CARGO_BIN_EXE_clustron")))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the clustron binary starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    let stdin = stdin.to_vec();
    std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let out = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    });
    let err = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    });
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for clustron") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("clustron {args:?} ran past {COMMAND_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// Writes `k/0000`, `k/0001`, ... with their numbers as values; each must be acknowledged.
pub fn put_numbered(store: &clustron::Store, count: u32) {
    for n in 0..count {
        store.put(format!("k/{n:04}"), n.to_string()).wait().unwrap_or_else(|e| panic!("k/{n:04}: {e}"));
    }
}

/// Reads back every key [`put_numbered`] wrote: each is there with its number.
pub fn assert_numbered(store: &clustron::Store, count: u32) {
    for n in 0..count {
        let entry = store.get(&format!("k/{n:04}")).wait().unwrap_or_else(|e| panic!("k/{n:04}: {e}"));
        let text = entry.map(|entry| entry.value().as_str().expect("text").to_owned());
        assert_eq!(text, Some(n.to_string()), "k/{n:04}");
    }
}

/// Writes `prefix/N` keys one after another until `stop`, recording the acknowledged ones.
pub fn writer(
    store: clustron::Store,
    prefix: &'static str,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    acked: std::sync::Arc<std::sync::Mutex<Vec<u64>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut n = 0u64;
        while !stop.load(std::sync::atomic::Ordering::Acquire) {
            if store.put(format!("{prefix}/{n:06}"), n.to_string()).wait().is_ok() {
                acked.lock().unwrap().push(n);
            }
            n += 1;
        }
    })
}
