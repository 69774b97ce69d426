//! Requests and responses multiplexed on one libp2p stream per peer and protocol.
//!
//! The requesting side opens the stream once and keeps it: every request is a frame with an
//! id, every response a frame with the id it answers, in any order, so one slow request (a
//! long poll, a large value) never holds up another and no request pays for a new stream.
//! A frame is `[length u32 BE][id u64 BE][postcard body]`, `length` counting the id and the
//! body. A frame over the protocol's limit ends the stream (its requests fail and the next
//! request opens a new one); a body that does not decode is answered with an error and
//! nothing else is affected.

use std::collections::HashMap;
use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::{PeerId, Stream};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

use crate::{Error, ErrorCode, Result};

/// The bytes of the id in a frame.
const ID_BYTES: usize = 8;

struct Frame {
    id: u64,
    body: Vec<u8>,
}

async fn read_frame<R: AsyncRead + Unpin>(io: &mut R, max: usize) -> io::Result<Frame> {
    let mut header = [0u8; 4 + ID_BYTES];
    io.read_exact(&mut header).await?;
    let length = u32::from_be_bytes(header[..4].try_into().expect("4 bytes")) as usize;
    let id = u64::from_be_bytes(header[4..].try_into().expect("8 bytes"));
    if length < ID_BYTES || length - ID_BYTES > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame of {length} bytes is outside the limit of {max}"),
        ));
    }
    let mut body = vec![0u8; length - ID_BYTES];
    io.read_exact(&mut body).await?;
    Ok(Frame { id, body })
}

/// Fuzzing: the bodies of the frames a stream carrying `bytes` yields before it ends.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_read_frames(bytes: &[u8], max: usize) -> Vec<Vec<u8>> {
    let mut reading = futures::io::Cursor::new(bytes);
    let mut bodies = Vec::new();
    futures::executor::block_on(async {
        while let Ok(frame) = read_frame(&mut reading, max).await {
            bodies.push(frame.body);
        }
    });
    bodies
}

/// Appends one frame to `batch`.
fn push_frame(batch: &mut Vec<u8>, id: u64, body: &[u8]) {
    batch.reserve(4 + ID_BYTES + body.len());
    batch.extend_from_slice(&((ID_BYTES + body.len()) as u32).to_be_bytes());
    batch.extend_from_slice(&id.to_be_bytes());
    batch.extend_from_slice(body);
}

/// Writes the frames gathered in `batch` as one write, and empties it.
async fn write_batch<W: AsyncWrite + Unpin>(io: &mut W, batch: &mut Vec<u8>) -> io::Result<()> {
    io.write_all(batch).await?;
    batch.clear();
    io.flush().await
}

/// Frames already queued when one is written join its write, up to this many bytes: under
/// load, many requests (or answers) cost one write through Yamux, Noise and the socket.
const BATCH_BYTES: usize = 256 << 10;

/// A requester with at least this many requests unanswered lets other tasks run once before
/// it writes, so that frames they are about to queue join the write (see `request`; a
/// responder does the same while this many other requests of its stream are being
/// answered). 100 stores written at once, 1 client each, on 3 nodes of 0.15 core: higher in
/// 11 of 13 alternating runs (10 with a threshold of 2, 3 with 8; the runs vary by ±15%). With
/// 2, a 3-node store's gets at 64 clients lost 7–14% (the leader's confirmations to its
/// followers waited on the yield); with 8, −6% and −1% in two pairs. A lone request or answer
/// is written at once, as before (one client's durable put p50 unchanged).
/// `bench/results/scale-2026-12-05-write-coalescing.md` has every run.
const BUSY: usize = 8;

/// Moves the requests queued behind the first of a batch into it, while the batch and the
/// window have room.
fn gather_requests(
    requests: &mut mpsc::UnboundedReceiver<(Vec<u8>, Reply)>,
    waiting: &mut Waiting,
    batch: &mut Vec<u8>,
    next_id: &mut u64,
    window: usize,
) {
    while batch.len() < BATCH_BYTES && waiting.replies.len() < window {
        let Ok((body, reply)) = requests.try_recv() else { break };
        *next_id += 1;
        push_frame(batch, *next_id, &body);
        waiting.replies.insert(*next_id, reply);
    }
}

/// Moves the answers queued behind the first of a batch into it, while it has room.
fn gather_answers(
    responses: &mut mpsc::UnboundedReceiver<Answer>,
    batch: &mut Vec<u8>,
    written: &mut Vec<OwnedSemaphorePermit>,
) {
    while batch.len() < BATCH_BYTES {
        let Ok((id, body, slot)) = responses.try_recv() else { break };
        push_frame(batch, id, &body);
        written.push(slot);
    }
}

/// How much a stream's reader buffers: frames that arrived together are read without going
/// back to the stream for each.
const READ_BUFFER: usize = 64 << 10;

/// The answer to one request: its encoded response, or why there is none.
pub(crate) type Reply = oneshot::Sender<Result<Vec<u8>>>;

/// Where requests for one open stream are queued (encoded body, where the answer goes).
pub(crate) type Requests = mpsc::UnboundedSender<(Vec<u8>, Reply)>;

fn lost(message: impl std::fmt::Display) -> Error {
    Error::new(ErrorCode::Unavailable, format!("connection lost: {message}"))
}

/// The requests of one stream that wait for their answers, shared by its writer (which
/// numbers and records them) and its reader (which completes them).
#[derive(Default)]
struct Waiting {
    replies: HashMap<u64, Reply>,
    /// Why the stream failed, once it has: later requests fail at once.
    failed: Option<Error>,
    /// No more requests will come: the writer waits for the last answers.
    draining: bool,
}

impl Waiting {
    /// Fails every waiting request (the first failure is the one reported).
    fn fail(&mut self, error: Error) {
        let failure = self.failed.get_or_insert(error).clone();
        for (_, reply) in self.replies.drain() {
            let _ = reply.send(Err(failure.clone()));
        }
    }
}

/// Runs the requesting side of `stream`: sends what arrives on the returned queue, at most
/// [`WINDOW`] unanswered at once (the rest wait in the queue); its reader completes each
/// request's answer directly (no other task in between). When the stream fails, every
/// request in flight or queued fails with `Unavailable` and `closed` runs (so the next
/// request opens a new stream). When the queue's senders are all gone, it ends once the
/// requests in flight are answered.
pub(crate) fn spawn_requester(stream: Stream, max: usize, closed: impl FnOnce() + Send + 'static) -> Requests {
    let (reader, writer) = stream.split();
    request(reader, writer, max, WINDOW, closed)
}

fn request(
    reader: impl AsyncRead + Unpin + Send + 'static,
    mut writer: impl AsyncWrite + Unpin + Send + 'static,
    max: usize,
    window: usize,
    closed: impl FnOnce() + Send + 'static,
) -> Requests {
    let (requests_in, mut requests) = mpsc::unbounded_channel::<(Vec<u8>, Reply)>();
    let waiting = Arc::new(parking_lot::Mutex::new(Waiting::default()));
    // Wakes the writer when the reader fails, opens room in a full window, or answers the
    // last request in flight.
    let changed = Arc::new(tokio::sync::Notify::new());
    let reading = {
        let (waiting, changed) = (Arc::clone(&waiting), Arc::clone(&changed));
        let mut reader = futures::io::BufReader::with_capacity(READ_BUFFER, reader);
        tokio::spawn(async move {
            let failure = loop {
                match read_frame(&mut reader, max).await {
                    Ok(Frame { id, body }) => {
                        let mut waiting = waiting.lock();
                        if let Some(reply) = waiting.replies.remove(&id) {
                            let _ = reply.send(Ok(body));
                            if waiting.replies.len() + 1 == window {
                                changed.notify_one();
                            }
                        }
                        if waiting.draining && waiting.replies.is_empty() {
                            changed.notify_one();
                        }
                    }
                    Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => break lost("the stream ended"),
                    Err(error) => break lost(error),
                }
            };
            waiting.lock().fail(failure);
            changed.notify_one();
        })
    };
    tokio::spawn(async move {
        let mut next_id = 0u64;
        let mut batch = Vec::new();
        let mut open = true;
        loop {
            if !open && waiting.lock().replies.is_empty() {
                break;
            }
            let room = {
                let waiting = waiting.lock();
                if waiting.failed.is_some() {
                    break;
                }
                window - waiting.replies.len().min(window)
            };
            tokio::select! {
                request = requests.recv(), if open && room > 0 => {
                    let Some((body, reply)) = request else {
                        open = false;
                        waiting.lock().draining = true;
                        continue;
                    };
                    let busy = {
                        let mut waiting = waiting.lock();
                        if waiting.failed.is_some() {
                            let _ = reply.send(Err(waiting.failed.clone().expect("failed")));
                            break;
                        }
                        let busy = waiting.replies.len() >= BUSY;
                        next_id += 1;
                        push_frame(&mut batch, next_id, &body);
                        waiting.replies.insert(next_id, reply);
                        gather_requests(&mut requests, &mut waiting, &mut batch, &mut next_id, window);
                        busy
                    };
                    // Many requests unanswered: others are likely about to send too. Letting
                    // them run first makes their frames join this write (one pass through
                    // Yamux, Noise and the socket for many, as many stores' groups replicating
                    // to one peer do); a lone request is written at once.
                    if busy && requests.is_empty() {
                        tokio::task::yield_now().await;
                        gather_requests(&mut requests, &mut waiting.lock(), &mut batch, &mut next_id, window);
                    }
                    // On failure every request of the batch is waiting: all are told.
                    if let Err(error) = write_batch(&mut writer, &mut batch).await {
                        waiting.lock().fail(lost(error));
                        break;
                    }
                }
                () = changed.notified() => {}
            }
        }
        closed();
        reading.abort();
        let _ = writer.close().await;
        let failure = {
            let mut waiting = waiting.lock();
            waiting.fail(lost("the stream was closed"));
            waiting.failed.clone().expect("failed")
        };
        requests.close();
        while let Ok((_, reply)) = requests.try_recv() {
            let _ = reply.send(Err(failure.clone()));
        }
    });
    requests_in
}

/// How many requests a requester keeps unanswered on one stream; more wait in its queue.
pub(crate) const WINDOW: usize = 1024;

/// How many requests one inbound stream may have unanswered (or answered but not yet
/// written back): twice a requester's [`WINDOW`], because a responder frees a request's
/// place only once its answer is written, and a requester may already have read a whole
/// written batch (at most a window of answers) and sent that many new requests. A request
/// past the limit is a peer that ignores the window: it is answered at once with
/// `unavailable` ("too many requests in flight") from a reserve of [`WINDOW`] answers; when
/// those too wait to be written, the reader stops reading, so the peer is held back by the
/// stream itself (Yamux's window, then TCP) instead of growing this node's queues: every
/// queue between a stream and the node is bounded.
pub(crate) const MAX_IN_FLIGHT: usize = 2 * WINDOW;

/// An inbound request and how to answer it.
#[derive(Debug)]
#[cfg_attr(
    not(feature = "node"),
    allow(dead_code, reason = "the client side decodes inbound frames into it too, but only a node reads its fields")
)]
pub(crate) struct Inbound<Req, Resp> {
    pub(crate) peer: PeerId,
    pub(crate) request: Req,
    pub(crate) channel: Responder<Resp>,
}

/// Answers one inbound request (dropping it unanswered leaves the requester to time out).
#[derive(Debug)]
pub(crate) struct Responder<Resp> {
    id: u64,
    out: mpsc::UnboundedSender<Answer>,
    max: usize,
    failure: fn(Error) -> Resp,
    /// The request's place among the stream's [`MAX_IN_FLIGHT`], given back once its answer
    /// is written (or when it is dropped unanswered).
    slot: OwnedSemaphorePermit,
}

/// An encoded answer on its way to the stream's writer, holding its request's slot.
type Answer = (u64, Vec<u8>, OwnedSemaphorePermit);

impl<Resp: Serialize> Responder<Resp> {
    pub(crate) fn respond(self, response: Resp) {
        let body = match to_body(&response) {
            Ok(body) if body.len() <= self.max => body,
            Ok(body) => self.failure_body(Error::new(
                ErrorCode::InvalidInput,
                format!("the response of {} bytes is over the limit of {}", body.len(), self.max),
            )),
            Err(error) => self.failure_body(Error::internal(format!("encoding a response: {error}"))),
        };
        let _ = self.out.send((self.id, body, self.slot));
    }

    fn failure_body(&self, error: Error) -> Vec<u8> {
        to_body(&(self.failure)(error)).expect("an error response encodes")
    }
}

/// Where a responder delivers the requests it reads: in batches, each the requests that
/// arrived together (see [`serve`]). Unbounded in type only: every request in it holds one of
/// its stream's [`MAX_IN_FLIGHT`] slots.
pub(crate) type Deliver<Req, Resp> = mpsc::UnboundedSender<Vec<Inbound<Req, Resp>>>;

/// The most requests delivered in one batch.
pub(crate) const MAX_BATCH: usize = 256;

/// Whether `buffered` (what a reader holds) starts with a whole frame, header and body: the
/// next [`read_frame`] then needs nothing from the stream. A header that declares a frame of
/// a size no frame may have counts as whole (reading it fails at once).
fn frame_buffered(buffered: &[u8], max: usize) -> bool {
    let Some(header) = buffered.get(..4) else { return false };
    let length = u32::from_be_bytes(header.try_into().expect("4 bytes")) as usize;
    length < ID_BYTES || length - ID_BYTES > max || buffered.len() >= 4 + length
}

/// Serves the answering side of an inbound `stream` from `peer`: decoded requests go to
/// `deliver` with their [`Responder`]s, the requests that arrived together in one batch; a
/// body that does not decode is answered with `failure`; a frame over `max`, or the stream's
/// end, ends it. At most [`MAX_IN_FLIGHT`] requests are unanswered at once; past that,
/// requests are refused (see there).
pub(crate) fn spawn_responder<Req, Resp>(
    peer: PeerId,
    stream: Stream,
    max: usize,
    failure: fn(Error) -> Resp,
    deliver: Deliver<Req, Resp>,
) where
    Req: DeserializeOwned + Send + 'static,
    Resp: Serialize + Send + 'static,
{
    let (reader, writer) = stream.split();
    serve(peer, reader, writer, max, failure, deliver, MAX_IN_FLIGHT);
}

/// The reader hands over what it has decoded whenever the next frame is not already in its
/// buffer (and so before it waits for the stream), or once it holds [`MAX_BATCH`]: a request
/// is never held back waiting for another, and under load the node takes many requests per
/// wake-up (and answers a batch of reads with one leadership confirmation).
fn serve<Req, Resp>(
    peer: PeerId,
    reader: impl AsyncRead + Unpin + Send + 'static,
    mut writer: impl AsyncWrite + Unpin + Send + 'static,
    max: usize,
    failure: fn(Error) -> Resp,
    deliver: Deliver<Req, Resp>,
    in_flight: usize,
) where
    Req: DeserializeOwned + Send + 'static,
    Resp: Serialize + Send + 'static,
{
    let mut reader = futures::io::BufReader::with_capacity(READ_BUFFER, reader);
    // Unbounded in type only: every answer in it holds one of the `in_flight` slots.
    let (out, mut responses) = mpsc::unbounded_channel::<Answer>();
    let slots = Arc::new(Semaphore::new(in_flight));
    let answering = Arc::clone(&slots);
    tokio::spawn(async move {
        let mut batch = Vec::new();
        let mut written = Vec::new();
        while let Some((id, body, slot)) = responses.recv().await {
            push_frame(&mut batch, id, &body);
            written.push(slot);
            gather_answers(&mut responses, &mut batch, &mut written);
            // Many other requests of this stream still being answered (their slots held, not
            // by this batch): their answers are likely about to come, and join this write if
            // they run first. With few, the answer is written at once.
            let pending = in_flight - answering.available_permits().min(in_flight);
            if pending >= written.len() + BUSY && responses.is_empty() {
                tokio::task::yield_now().await;
                gather_answers(&mut responses, &mut batch, &mut written);
            }
            if write_batch(&mut writer, &mut batch).await.is_err() {
                break;
            }
            written.clear();
        }
        let _ = writer.close().await;
    });
    let reserve = Arc::new(Semaphore::new(in_flight / 2));
    tokio::spawn(async move {
        let mut batch = Vec::new();
        loop {
            if !batch.is_empty()
                && (batch.len() >= MAX_BATCH || !frame_buffered(reader.buffer(), max))
                && deliver.send(std::mem::take(&mut batch)).is_err()
            {
                return;
            }
            let Ok(Frame { id, body }) = read_frame(&mut reader, max).await else { break };
            let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                // A peer over the limit: told so, from the reserve (waiting for it holds the
                // peer back once even refusals pile up unread). What was read before is
                // delivered first: its answers are what frees the slots.
                if !batch.is_empty() && deliver.send(std::mem::take(&mut batch)).is_err() {
                    return;
                }
                let Ok(slot) = Arc::clone(&reserve).acquire_owned().await else { break };
                let refusal = Error::unavailable(format!(
                    "too many requests in flight on one connection (at most {in_flight}): wait for answers before sending more"
                ));
                Responder { id, out: out.clone(), max, failure, slot }.respond(failure(refusal));
                continue;
            };
            let channel = Responder { id, out: out.clone(), max, failure, slot };
            match postcard::from_bytes::<Req>(&body) {
                Ok(request) => batch.push(Inbound { peer, request, channel }),
                Err(error) => channel.respond(failure(Error::invalid(format!("undecodable request: {error}")))),
            }
        }
        // The stream ended: what was read before its end is still answered.
        if !batch.is_empty() {
            let _ = deliver.send(batch);
        }
    });
}

/// Room a body is encoded into first: most requests and answers fit (a get of a 100-byte
/// value is ~140 bytes), so one allocation holds them, where growing from empty took three
/// or four (`perf`: ~3% of a node answering puts at 64 clients was in `malloc` from there).
const BODY_START: usize = 256;

/// `value` as a frame's body (postcard).
fn to_body<T: Serialize + ?Sized>(value: &T) -> postcard::Result<Vec<u8>> {
    postcard::to_extend(value, Vec::with_capacity(BODY_START))
}

/// Encodes a request body, refusing one over `max`.
pub(crate) fn encode<T: Serialize>(value: &T, max: usize) -> Result<Vec<u8>> {
    let body = to_body(value).map_err(|error| Error::internal(format!("encoding a request: {error}")))?;
    if body.len() > max {
        return Err(Error::new(
            ErrorCode::InvalidInput,
            format!("the request of {} bytes is over the limit of {max}", body.len()),
        ));
    }
    Ok(body)
}

/// Decodes a response body.
pub(crate) fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    postcard::from_bytes(body).map_err(|error| lost(format!("undecodable response: {error}")))
}

#[cfg(test)]
mod tests;
