use super::*;

#[tokio::test]
async fn frames_round_trip_and_oversized_ones_are_refused() {
    let mut batch = Vec::new();
    push_frame(&mut batch, 7, b"hello");
    push_frame(&mut batch, 8, b"");
    let mut buffer = Vec::new();
    write_batch(&mut buffer, &mut batch).await.unwrap();
    assert!(batch.is_empty(), "a written batch is emptied");
    let mut reading = futures::io::Cursor::new(buffer.clone());
    let first = read_frame(&mut reading, 16).await.unwrap();
    assert_eq!((first.id, first.body.as_slice()), (7, &b"hello"[..]));
    let second = read_frame(&mut reading, 16).await.unwrap();
    assert_eq!((second.id, second.body.len()), (8, 0));
    assert_eq!(read_frame(&mut reading, 16).await.err().unwrap().kind(), io::ErrorKind::UnexpectedEof);
    // The same frame against a smaller limit, and a length shorter than an id.
    let error = read_frame(&mut futures::io::Cursor::new(buffer), 4).await.err().unwrap();
    assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    let short = [0u8, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1];
    assert!(read_frame(&mut futures::io::Cursor::new(short.to_vec()), 16).await.is_err());
}

/// A writer whose writes never finish: a peer that does not read its answers.
struct Stuck;

impl AsyncWrite for Stuck {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        _: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::task::Poll::Pending
    }

    fn poll_flush(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Pending
    }

    fn poll_close(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// Serves 100 requests (bodies 1..=100) with at most 10 unanswered (and a reserve of 5
/// refusals), answering what is delivered until nothing moves for a (paused-clock)
/// second; answers how many requests were delivered.
async fn delivered_through(writer: impl AsyncWrite + Unpin + Send + 'static) -> usize {
    let mut frames = Vec::new();
    for id in 1..=100u64 {
        push_frame(&mut frames, id, &postcard::to_allocvec(&id).unwrap());
    }
    let (deliver, mut delivered) = mpsc::unbounded_channel::<Vec<Inbound<u64, u64>>>();
    serve(PeerId::random(), futures::io::Cursor::new(frames), writer, 1024, |_| 0, deliver, 10);
    let mut seen = 0;
    loop {
        tokio::select! {
            batch = delivered.recv() => match batch {
                Some(batch) => {
                    for inbound in batch {
                        seen += 1;
                        inbound.channel.respond(inbound.request);
                    }
                }
                None => break,
            },
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => break,
        }
    }
    seen
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_does_not_read_its_answers_is_held_back_at_the_in_flight_limit() {
    // 10 answers wait to be written, then 5 refusals: the reader stops.
    assert_eq!(delivered_through(Stuck).await, 10, "the reader stops while 15 answers wait to be written");
}

#[tokio::test]
async fn a_requester_and_a_responder_answer_every_request_over_one_stream() {
    use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};
    let (client, server) = tokio::io::duplex(4096);
    let (server_read, server_write) = tokio::io::split(server);
    let (deliver, mut delivered) = mpsc::unbounded_channel::<Vec<Inbound<u64, u64>>>();
    serve(PeerId::random(), server_read.compat(), server_write.compat_write(), 1024, |_| 0, deliver, 16);
    // Answers in reverse order of arrival, a batch at a time.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Some(batch) = delivered.recv().await {
            held.extend(batch);
            while let Ok(batch) = delivered.try_recv() {
                held.extend(batch);
            }
            for inbound in held.drain(..).rev() {
                let doubled = inbound.request * 2;
                inbound.channel.respond(doubled);
            }
        }
    });
    let (client_read, client_write) = tokio::io::split(client);
    // A window of half the responder's limit: nothing is ever refused.
    let requests = request(client_read.compat(), client_write.compat_write(), 1024, 8, || {});
    let answers: Vec<_> = (1..=500u64)
        .map(|n| {
            let (reply, answer) = oneshot::channel();
            requests.send((postcard::to_allocvec(&n).unwrap(), reply)).unwrap();
            (n, answer)
        })
        .collect();
    for (n, answer) in answers {
        let body = answer.await.unwrap().unwrap();
        assert_eq!(postcard::from_bytes::<u64>(&body).unwrap(), n * 2);
    }
}

/// A writer that keeps what is written to it, and counts its flushes (one per batch written:
/// see `write_batch`).
#[derive(Clone, Default)]
struct Kept(Arc<parking_lot::Mutex<Vec<u8>>>, Arc<std::sync::atomic::AtomicUsize>);

impl Kept {
    fn flushes(&self) -> usize {
        self.1.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl AsyncWrite for Kept {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        bytes: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        self.0.lock().extend_from_slice(bytes);
        std::task::Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>> {
        self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_close(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[tokio::test(start_paused = true)]
async fn requests_past_the_in_flight_limit_are_refused_with_a_code() {
    let mut frames = Vec::new();
    for id in 1..=100u64 {
        push_frame(&mut frames, id, &postcard::to_allocvec(&id).unwrap());
    }
    let (deliver, mut delivered) = mpsc::unbounded_channel::<Vec<Inbound<u64, u64>>>();
    let kept = Kept::default();
    let refused_as = |error: Error| 1000 + u64::from(error.code().number());
    serve(PeerId::random(), futures::io::Cursor::new(frames), kept.clone(), 1024, refused_as, deliver, 10);
    // Hold every delivered request unanswered: the first 10 are in flight, the other 90
    // are answered at once with `unavailable`.
    let mut held = Vec::new();
    while let Ok(Some(batch)) = tokio::time::timeout(std::time::Duration::from_secs(1), delivered.recv()).await {
        held.extend(batch);
    }
    assert_eq!(held.iter().map(|inbound| inbound.request).collect::<Vec<_>>(), (1..=10).collect::<Vec<u64>>());
    // The last refusals may still be on their way to the writer (it lets other tasks run
    // before a write while requests are pending): a paused-clock moment for it to finish.
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    let written = kept.0.lock().clone();
    let mut reading = futures::io::Cursor::new(written);
    let mut refused = Vec::new();
    while let Ok(frame) = read_frame(&mut reading, 1024).await {
        assert_eq!(
            postcard::from_bytes::<u64>(&frame.body).unwrap(),
            1000 + u64::from(ErrorCode::Unavailable.number())
        );
        refused.push(frame.id);
    }
    assert_eq!(refused, (11..=100).collect::<Vec<u64>>());
}

#[tokio::test(start_paused = true)]
async fn a_requester_keeps_at_most_a_window_unanswered() {
    use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};
    let (client, server) = tokio::io::duplex(1 << 20);
    let (server_read, server_write) = tokio::io::split(server);
    let (deliver, mut delivered) = mpsc::unbounded_channel::<Vec<Inbound<u64, u64>>>();
    serve(PeerId::random(), server_read.compat(), server_write.compat_write(), 1024, |_| 0, deliver, 64);
    let (client_read, client_write) = tokio::io::split(client);
    let requests = request(client_read.compat(), client_write.compat_write(), 1024, 4, || {});
    let answers: Vec<_> = (1..=10u64)
        .map(|n| {
            let (reply, answer) = oneshot::channel();
            requests.send((postcard::to_allocvec(&n).unwrap(), reply)).unwrap();
            answer
        })
        .collect();
    let next = |delivered: &mut mpsc::UnboundedReceiver<Vec<Inbound<u64, u64>>>| {
        let mut arrived = Vec::new();
        while let Ok(batch) = delivered.try_recv() {
            arrived.extend(batch);
        }
        arrived
    };
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let first = next(&mut delivered);
    assert_eq!(first.iter().map(|inbound| inbound.request).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    // One answer makes room for one more request.
    let mut first = first.into_iter();
    let one = first.next().unwrap();
    one.channel.respond(one.request);
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(next(&mut delivered).iter().map(|inbound| inbound.request).collect::<Vec<_>>(), vec![5]);
    for inbound in first {
        inbound.channel.respond(inbound.request);
    }
    drop(answers);
}

/// The requests that arrived together are delivered together, at most `MAX_BATCH` at a time,
/// and the last of them is not held back for more.
#[tokio::test(start_paused = true)]
async fn requests_that_arrive_together_are_delivered_in_one_batch() {
    let mut frames = Vec::new();
    for id in 1..=(MAX_BATCH as u64 + 10) {
        push_frame(&mut frames, id, &postcard::to_allocvec(&id).unwrap());
    }
    let (deliver, mut delivered) = mpsc::unbounded_channel::<Vec<Inbound<u64, u64>>>();
    serve(PeerId::random(), futures::io::Cursor::new(frames), Kept::default(), 1024, |_| 0, deliver, 1024);
    let mut sizes = Vec::new();
    let mut requests = Vec::new();
    while let Ok(Some(batch)) = tokio::time::timeout(std::time::Duration::from_secs(1), delivered.recv()).await {
        sizes.push(batch.len());
        requests.extend(batch.into_iter().map(|inbound| inbound.request));
    }
    assert_eq!(sizes, vec![MAX_BATCH, 10]);
    assert_eq!(requests, (1..=(MAX_BATCH as u64 + 10)).collect::<Vec<_>>());
}

#[test]
fn a_frame_counts_as_buffered_only_when_whole() {
    let mut frame = Vec::new();
    push_frame(&mut frame, 7, &[1, 2, 3]);
    assert!(frame_buffered(&frame, 1024));
    for cut in 0..frame.len() {
        assert!(!frame_buffered(&frame[..cut], 1024), "{cut} bytes of {}", frame.len());
    }
    // A header no frame may have: reading it fails without waiting for more.
    assert!(frame_buffered(&u32::MAX.to_be_bytes(), 1024));
}

#[tokio::test]
async fn a_stream_that_ends_fails_its_requests_and_says_it_closed() {
    let closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let said = Arc::clone(&closed);
    let requests = request(futures::io::Cursor::new(Vec::new()), futures::io::sink(), 1024, 8, move || {
        said.store(true, std::sync::atomic::Ordering::Release);
    });
    let (reply, answer) = oneshot::channel();
    requests.send((vec![1], reply)).unwrap();
    let error = answer.await.unwrap().unwrap_err();
    assert_eq!(error.code(), ErrorCode::Unavailable, "{error}");
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while !requests.is_closed() {
            tokio::task::yield_now().await;
        }
    });
    assert!(ended.await.is_ok(), "the requester ends");
    assert!(closed.load(std::sync::atomic::Ordering::Acquire));
}

#[test]
fn requests_over_the_limit_are_refused_before_sending() {
    let error = encode(&vec![0u8; 100], 10).unwrap_err();
    assert_eq!(error.code(), ErrorCode::InvalidInput);
    assert!(encode(&vec![0u8; 5], 10).is_ok());
}

/// A responder with `BUSY` other requests still being answered lets their answers join the
/// write of the first (the answers of many stores' groups to one peer); with fewer, an answer
/// is written at once. One thread, so the order of tasks is fixed.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn answers_that_follow_one_another_join_its_write_and_a_lone_answer_goes_at_once() {
    // `count` requests arrive together; the first is answered, then, once the writer has
    // run, the others: how many writes the answers took.
    async fn writes_for(count: u64) -> usize {
        let mut frames = Vec::new();
        for id in 1..=count {
            push_frame(&mut frames, id, &postcard::to_allocvec(&id).unwrap());
        }
        let (deliver, mut delivered) = mpsc::unbounded_channel::<Vec<Inbound<u64, u64>>>();
        let flushes = Kept::default();
        serve(PeerId::random(), futures::io::Cursor::new(frames), flushes.clone(), 1024, |_| 0, deliver, 64);
        let mut inbound = delivered.recv().await.expect("the requests").into_iter();
        let first = inbound.next().unwrap();
        first.channel.respond(first.request);
        tokio::task::yield_now().await;
        for rest in inbound {
            rest.channel.respond(rest.request);
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        flushes.flushes()
    }
    // BUSY others pending: the writer lets this task answer them first, and writes all once.
    assert_eq!(writes_for(BUSY as u64 + 1).await, 1, "the answers join the first one's write");
    // Fewer: the first answer is written when the writer first runs, the rest after.
    assert_eq!(writes_for(BUSY as u64).await, 2, "the first answer goes at once");
    assert_eq!(writes_for(1).await, 1);
}

/// A requester with `BUSY` requests unanswered lets a request queued right after its own
/// join the write; with fewer, each request is written when the writer runs.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn requests_sent_while_many_are_unanswered_join_one_write() {
    let flushes = Kept::default();
    let (_peer, silent) = tokio::io::duplex(64);
    use tokio_util::compat::TokioAsyncReadCompatExt;
    let requests = request(silent.compat(), flushes.clone(), 1024, 64, || {});
    let send = |n: u64| {
        let (reply, answer) = oneshot::channel();
        requests.send((postcard::to_allocvec(&n).unwrap(), reply)).unwrap();
        answer
    };
    // One at a time up to BUSY unanswered: each written when the writer runs.
    let mut answers = Vec::new();
    for n in 0..BUSY as u64 {
        answers.push(send(n));
        tokio::task::yield_now().await;
        assert_eq!(flushes.flushes(), n as usize + 1, "fewer than BUSY unanswered: written at once");
    }
    // BUSY unanswered: the writer lets this task queue one more before it writes.
    answers.push(send(100));
    tokio::task::yield_now().await;
    answers.push(send(101));
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    assert_eq!(flushes.flushes(), BUSY + 1, "the two last in one write");
    drop(answers);
}
