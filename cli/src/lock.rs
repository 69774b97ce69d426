//! `clustron lock NAME [-- COMMAND...]`: acquire, hold (renewing every third of the TTL),
//! release. With a command, it runs while the lock is held and sees `CLUSTRON_LOCK` and
//! `CLUSTRON_FENCE` (the fencing token to pass along with its writes); if the lock is lost
//! (a renewal refused), the command is killed, because another holder may already be acting.
//! Without one, the fencing token is printed and the lock held until stdin closes or
//! SIGINT/SIGTERM arrives.

use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use clustron::limits::MAX_TTL;
use clustron::Lock;
use serde_json::json;

use crate::client::Connect;
use crate::exit::{CliError, Outcome};

/// How often a running command is checked for having ended.
const CHILD_POLL: Duration = Duration::from_millis(20);

pub fn run(
    connect: &Connect,
    name: &str,
    ttl: Duration,
    wait: Option<Duration>,
    command: &[String],
) -> Result<Outcome, CliError> {
    let store = connect.open()?;
    let Some(lock) = store.locks().acquire(name).ttl(ttl).timeout(wait.unwrap_or(MAX_TTL)).wait()? else {
        if connect.json {
            println!("{}", json!({"name": name, "acquired": false}));
        } else {
            eprintln!("{name}: not acquired within {:?}", wait.unwrap_or_default());
        }
        return Ok(Outcome::No);
    };
    if connect.json {
        println!("{}", json!({"name": name, "acquired": true, "fence": lock.fence()}));
    } else if command.is_empty() {
        println!("acquired {name} fence {}", lock.fence());
    }
    let outcome = if command.is_empty() { hold_until_told(&lock, ttl) } else { run_holding(&lock, ttl, command) };
    // Released whatever happened; a lock already lost is not an error here.
    let released = lock.release().wait();
    let outcome = outcome?;
    released?;
    Ok(outcome)
}

/// Renews `lock` every third of `ttl` until `stop` says so; an error means the lock is lost.
fn renew_until(lock: &Lock, ttl: Duration, stop: &mpsc::Receiver<()>) -> Result<(), CliError> {
    let every = (ttl / 3).max(Duration::from_millis(50));
    loop {
        match stop.recv_timeout(every) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                lock.renew().wait()?;
            }
        }
    }
}

fn run_holding(lock: &Lock, ttl: Duration, command: &[String]) -> Result<Outcome, CliError> {
    let mut child = match Command::new(&command[0])
        .args(&command[1..])
        .env("CLUSTRON_LOCK", lock.name().as_str())
        .env("CLUSTRON_FENCE", lock.fence().to_string())
        .spawn()
    {
        Ok(child) => child,
        Err(error) => {
            let status = if error.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 };
            eprintln!("clustron: cannot run {:?}: {error}", command[0]);
            return Ok(Outcome::Status(status));
        }
    };
    let (stop, stopped) = mpsc::channel();
    let (lost_tx, lost) = mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            if let Err(error) = renew_until(lock, ttl, &stopped) {
                let _ = lost_tx.send(error);
            }
        });
        let result = loop {
            if let Ok(error) = lost.try_recv() {
                let _ = child.kill();
                let _ = child.wait();
                break Err(CliError {
                    message: format!("lost the lock, killed the command: {}", error.message),
                    ..error
                });
            }
            match child.try_wait() {
                Ok(Some(status)) => break Ok(Outcome::Status(exit_status(status))),
                Ok(None) => std::thread::sleep(CHILD_POLL),
                Err(error) => break Err(CliError::failed(format!("waiting for the command: {error}"))),
            }
        };
        let _ = stop.send(());
        result
    })
}

/// A child's status as ours: its code, or 128 + the signal that ended it (as shells do).
fn exit_status(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(signal)) => 128u8.saturating_add(signal as u8),
        (None, None) => 1,
    }
}

/// Holds the lock until stdin reaches its end or SIGINT/SIGTERM arrives.
fn hold_until_told(lock: &Lock, ttl: Duration) -> Result<Outcome, CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(e.to_string()))?;
    let (stop, stopped) = mpsc::channel();
    std::thread::scope(|scope| {
        let renewing = scope.spawn(move || {
            let renewed = renew_until(lock, ttl, &stopped);
            if let Err(error) = &renewed {
                eprintln!("clustron: lost the lock: {}", error.message);
            }
            renewed
        });
        let told = runtime.block_on(async {
            let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .map_err(|e| CliError::failed(e.to_string()))?;
            let stdin_closed = tokio::task::spawn_blocking(|| {
                let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            });
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
                _ = stdin_closed => {}
            }
            Ok::<(), CliError>(())
        });
        let _ = stop.send(());
        let renewed = renewing.join().unwrap_or_else(|_| Err(CliError::failed("the renewal thread panicked")));
        // The blocking stdin reader may still be waiting; the process ends anyway.
        runtime.shutdown_background();
        told.and(renewed).map(|()| Outcome::Done)
    })
}
