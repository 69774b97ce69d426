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
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("an address").port()
}

fn spawn(args: &[String]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_clustron"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the clustron binary starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let (ready, on_ready) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.strip_prefix("ready ") {
                let _ = ready.send(rest.split_whitespace().next().unwrap_or_default().to_owned());
            }
        }
    });
    match on_ready.recv_timeout(READY_TIMEOUT) {
        Ok(id) => (child, id),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("node {args:?} did not become ready within {READY_TIMEOUT:?}");
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
        let mut cluster = Cluster { nodes: Vec::new(), data, common: common.iter().map(|s| s.to_string()).collect() };
        for index in 0..size {
            cluster.add_node(index, (index == 0).then_some(store));
        }
        cluster
    }

    /// Starts another node that joins through the first running one.
    pub fn add_node(&mut self, index: usize, bootstrap_store: Option<&str>) {
        let port = free_port();
        let mut args: Vec<String> = vec!["node".into(), "--listen".into(), format!("127.0.0.1:{port}")];
        args.extend(self.common.iter().cloned());
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
        let (child, id) = spawn(&args);
        self.nodes.push(NodeProcess { port, id, args, child: Some(child) });
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

    /// Starts a killed node again with the same arguments (same port, same data directory).
    pub fn restart(&mut self, index: usize) {
        assert!(self.nodes[index].child.is_none(), "node {index} is running");
        let (child, id) = spawn(&self.nodes[index].args);
        self.nodes[index].child = Some(child);
        self.nodes[index].id = id;
    }

    /// Runs the `clustron` command (an operator command) and answers its output.
    pub fn command(&self, args: &[&str]) -> String {
        let output = Command::new(env!("CARGO_BIN_EXE_clustron")).args(args).output().expect("clustron runs");
        assert!(output.status.success(), "clustron {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for index in 0..self.nodes.len() {
            self.kill(index);
        }
        if let Some(data) = &self.data {
            let _ = std::fs::remove_dir_all(data);
        }
    }
}

/// Retries `attempt` until it answers `Some` or `limit` passes.
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
