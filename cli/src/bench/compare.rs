//! etcd and Redis behind the bench's [`System`] interface (feature `compare`), each used the
//! way its own documentation recommends for the same operation:
//!
//! | op | etcd (v3 API, `etcd-client`) | Redis (`redis`, one connection per client, no pipelining) |
//! |---|---|---|
//! | get | Range (linearizable, the default) | GET |
//! | get-local | Range with `serializable` | — |
//! | put / delete | Put / DeleteRange | SET / DEL |
//! | counter | get + compare-mod-revision Txn, retried on conflict (etcd has no atomic add) | INCR |
//! | lock | Lock (v3lock, on a lease granted once per client) + Unlock | SET NX PX + compare-and-delete script; retried every 1 ms while taken (Redis has no wait queue) |
//! | scan | Range from the key, limit 10 | — (no ordered keys) |
//! | txn | Txn: if version > 0 then Put else Put | — |
//!
//! etcd clients share one gRPC channel (balanced over the endpoints), as a Go client does;
//! calls are driven by one Tokio runtime from the bench's client threads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Client as EtcdClient, Compare, CompareOp, DeleteOptions, GetOptions, LockOptions, Txn, TxnOp};

use super::{Client, Op, System, LOCK_TTL};

fn hosts(target: &str) -> Vec<String> {
    let rest = target.split_once("://").map_or(target, |(_, rest)| rest);
    let rest = rest.split(['/', '?']).next().unwrap_or_default();
    rest.split(',').filter(|host| !host.is_empty()).map(str::to_owned).collect()
}

struct Etcd {
    runtime: Arc<tokio::runtime::Runtime>,
    client: EtcdClient,
}

/// `etcd://host:port,...[?timeout=DURATION]`: with a timeout, each request that takes longer
/// fails (and the client's next request tries again). The failover bench sets one: without
/// it, a request sent to a killed member's connection can wait for good.
pub fn etcd(target: &str) -> Result<Box<dyn System>, String> {
    let endpoints: Vec<String> = hosts(target).into_iter().map(|host| format!("http://{host}")).collect();
    if endpoints.is_empty() {
        return Err(format!("no endpoints in {target:?} (etcd://host:port,host:port)"));
    }
    let mut options = None;
    if let Some((_, query)) = target.split_once('?') {
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("timeout", value)) => {
                    let timeout = crate::client::parse_duration(value)?;
                    options = Some(etcd_client::ConnectOptions::new().with_timeout(timeout));
                }
                _ => return Err(format!("unknown etcd target parameter {pair:?} (timeout=DURATION)")),
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("bench-etcd")
        .build()
        .map_err(|e| e.to_string())?;
    let client = runtime.block_on(EtcdClient::connect(&endpoints, options)).map_err(|e| format!("etcd: {e}"))?;
    Ok(Box::new(Etcd { runtime: Arc::new(runtime), client }))
}

impl System for Etcd {
    fn supports(&self, op: Op) -> bool {
        op != Op::Search
    }

    fn client(&self) -> Result<Box<dyn Client>, String> {
        let mut client = self.client.clone();
        let lease = self.runtime.block_on(client.lease_grant(120, None)).map_err(|e| e.to_string())?.id();
        Ok(Box::new(EtcdConnection { runtime: Arc::clone(&self.runtime), client, lease }))
    }

    fn preload(&self, keys: &[String], value: &str, _tagged: bool) -> Result<(), String> {
        let mut client = self.client.clone();
        self.runtime.block_on(async {
            for chunk in keys.chunks(64) {
                let ops: Vec<TxnOp> = chunk.iter().map(|key| TxnOp::put(key.as_str(), value, None)).collect();
                client.txn(Txn::new().and_then(ops)).await.map_err(|e| e.to_string())?;
            }
            Ok(())
        })
    }

    fn cleanup(&self) {
        let mut client = self.client.clone();
        let _ = self.runtime.block_on(client.delete("bench/", Some(DeleteOptions::new().with_prefix())));
    }
}

struct EtcdConnection {
    runtime: Arc<tokio::runtime::Runtime>,
    client: EtcdClient,
    lease: i64,
}

impl Client for EtcdConnection {
    fn run(&mut self, op: Op, key: &str, value: &str) -> Result<(), String> {
        let client = &mut self.client;
        let lease = self.lease;
        let result: Result<(), etcd_client::Error> = self.runtime.block_on(async move {
            match op {
                Op::Get => client.get(key, None).await.map(drop),
                Op::GetLocal => client.get(key, Some(GetOptions::new().with_serializable())).await.map(drop),
                Op::Put => client.put(key, value, None).await.map(drop),
                Op::Delete => client.delete(key, None).await.map(drop),
                Op::Counter => loop {
                    let current = client.get(key, None).await?;
                    let (number, revision) = match current.kvs().first() {
                        Some(kv) => {
                            let number = std::str::from_utf8(kv.value()).ok().and_then(|t| t.parse::<i64>().ok());
                            (number.unwrap_or(0), kv.mod_revision())
                        }
                        None => (0, 0),
                    };
                    let next = (number + 1).to_string();
                    let txn = Txn::new()
                        .when([Compare::mod_revision(key, CompareOp::Equal, revision)])
                        .and_then([TxnOp::put(key, next, None)]);
                    if client.txn(txn).await?.succeeded() {
                        break Ok(());
                    }
                },
                Op::Lock => {
                    let held = client.lock(key, Some(LockOptions::new().with_lease(lease))).await?;
                    client.unlock(held.key()).await.map(drop)
                }
                Op::Scan => client.get(key, Some(GetOptions::new().with_from_key().with_limit(10))).await.map(drop),
                Op::ScanPage => {
                    let page = GetOptions::new().with_from_key().with_limit(crate::bench::PAGE as i64);
                    client.get(key, Some(page)).await.map(drop)
                }
                Op::Search => unreachable!("etcd does not run search (supports)"),
                Op::Txn => {
                    let txn = Txn::new()
                        .when([Compare::version(key, CompareOp::Greater, 0)])
                        .and_then([TxnOp::put(key, value, None)])
                        .or_else([TxnOp::put(key, value, None)]);
                    client.txn(txn).await.map(drop)
                }
            }
        });
        result.map_err(|e| e.to_string())
    }
}

struct Redis {
    client: redis::Client,
}

pub fn redis(target: &str) -> Result<Box<dyn System>, String> {
    let host = hosts(target).into_iter().next().ok_or_else(|| format!("no host in {target:?} (redis://host:port)"))?;
    let client = redis::Client::open(format!("redis://{host}/")).map_err(|e| format!("redis: {e}"))?;
    Ok(Box::new(Redis { client }))
}

/// Deletes the lock key only if it still holds this client's token (a safe release).
const RELEASE: &str =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

impl System for Redis {
    fn supports(&self, op: Op) -> bool {
        !matches!(op, Op::GetLocal | Op::Scan | Op::Txn | Op::Search | Op::ScanPage)
    }

    fn client(&self) -> Result<Box<dyn Client>, String> {
        let connection = self.client.get_connection().map_err(|e| format!("redis: {e}"))?;
        static CLIENTS: AtomicU64 = AtomicU64::new(0);
        let token = format!("{}-{}", std::process::id(), CLIENTS.fetch_add(1, Ordering::Relaxed));
        Ok(Box::new(RedisConnection { connection, token, sequence: 0 }))
    }

    fn preload(&self, keys: &[String], value: &str, _tagged: bool) -> Result<(), String> {
        let mut connection = self.client.get_connection().map_err(|e| e.to_string())?;
        for chunk in keys.chunks(256) {
            let mut command = redis::cmd("MSET");
            for key in chunk {
                command.arg(key).arg(value);
            }
            command.query::<()>(&mut connection).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn cleanup(&self) {
        let Ok(mut connection) = self.client.get_connection() else { return };
        let keys: Vec<String> = redis::cmd("KEYS").arg("bench/*").query(&mut connection).unwrap_or_default();
        for chunk in keys.chunks(512) {
            let _ = redis::cmd("DEL").arg(chunk).query::<()>(&mut connection);
        }
    }
}

struct RedisConnection {
    connection: redis::Connection,
    token: String,
    sequence: u64,
}

impl Client for RedisConnection {
    fn run(&mut self, op: Op, key: &str, value: &str) -> Result<(), String> {
        let connection = &mut self.connection;
        let result = match op {
            Op::Get => redis::cmd("GET").arg(key).query::<Option<Vec<u8>>>(connection).map(drop),
            Op::Put => redis::cmd("SET").arg(key).arg(value).query::<()>(connection),
            Op::Delete => redis::cmd("DEL").arg(key).query::<i64>(connection).map(drop),
            Op::Counter => redis::cmd("INCR").arg(key).query::<i64>(connection).map(drop),
            Op::Lock => {
                self.sequence += 1;
                let token = format!("{}-{}", self.token, self.sequence);
                let deadline = std::time::Instant::now() + LOCK_TTL;
                loop {
                    let granted: Option<String> = redis::cmd("SET")
                        .arg(key)
                        .arg(&token)
                        .arg("NX")
                        .arg("PX")
                        .arg(LOCK_TTL.as_millis() as u64)
                        .query(connection)
                        .map_err(|e| e.to_string())?;
                    if granted.is_some() {
                        break;
                    }
                    if std::time::Instant::now() > deadline {
                        return Err(format!("the lock stayed held for {LOCK_TTL:?}"));
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                redis::cmd("EVAL").arg(RELEASE).arg(1).arg(key).arg(&token).query::<i64>(connection).map(drop)
            }
            Op::GetLocal | Op::Scan | Op::Txn | Op::Search | Op::ScanPage => {
                return Err(format!("redis has no {}", op.name()))
            }
        };
        result.map_err(|e| e.to_string())
    }
}
