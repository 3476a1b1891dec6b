//! Head monitor tests: chunking, closed and stalled streams, server errors, status.

use crate::server::{Reply, Server, Step, bh, head_json};
use l1_client::{Connection, HeadMonitor, L1Client, L1Config};
use std::time::Duration;

/// Safety net against hangs (not a timing assertion).
const GUARD: Duration = Duration::from_secs(30);

fn fast(url: String) -> L1Config {
    L1Config {
        reconnection_delay: Duration::from_millis(5),
        stream_max_delay: Duration::from_millis(20),
        rpc_timeout: Duration::from_secs(10),
        ..L1Config::new(url)
    }
}

fn data(s: &str) -> Step {
    Step::Data(s.as_bytes().to_vec())
}

async fn next_level(m: &mut HeadMonitor) -> (i32, u8) {
    let h = tokio::time::timeout(GUARD, m.next())
        .await
        .expect("no head")
        .expect("monitor stopped");
    (i32::from(h.shell.level), h.hash.0[0])
}

#[tokio::test]
async fn values_split_across_chunks_and_grouped() {
    let h1 = format!("{}\n", head_json(10, 10));
    let two = format!("{}\n{}\n", head_json(11, 11), head_json(12, 12));
    let server = Server::start(move |_, _| {
        Reply::Stream(vec![
            data(&h1[..7]),
            // Let the first piece reach the client on its own.
            Step::Sleep(Duration::from_millis(20)),
            data(&h1[7..100]),
            data(&h1[100..]),
            data(&two),
        ])
    })
    .await;
    let client = L1Client::new(fast(server.url())).unwrap();
    let mut m = HeadMonitor::start(client, "NetXdQprcVkpaWU");
    assert_eq!(next_level(&mut m).await, (10, 10));
    assert_eq!(next_level(&mut m).await, (11, 11));
    // Head 12 came in the same chunk as 11: already queued, taken without waiting.
    let queued = match m.try_next() {
        Some(h) => h,
        None => tokio::time::timeout(GUARD, m.next())
            .await
            .unwrap()
            .unwrap(),
    };
    assert_eq!((i32::from(queued.shell.level), queued.hash.0[0]), (12, 12));
    assert!(m.try_next().is_none(), "nothing else was sent");
    let s = m.status();
    assert!(s.is_connected());
    assert_eq!(s.last_head.map(|h| h.hash), Some(bh(12)));
    assert_eq!(s.reconnections, 0);
    assert_eq!(
        server.paths(),
        vec!["/monitor/heads/NetXdQprcVkpaWU".to_owned()]
    );
}

#[tokio::test]
async fn closed_mid_value_reconnects_and_replays_last_head() {
    let server = Server::start(|_, n| {
        if n == 0 {
            let h2 = head_json(21, 21);
            Reply::Stream(vec![
                data(&format!("{}\n", head_json(20, 20))),
                data(&h2[..50]),
                Step::Abort,
            ])
        } else {
            Reply::Stream(vec![data(&format!("{}\n", head_json(22, 22)))])
        }
    })
    .await;
    let client = L1Client::new(fast(server.url())).unwrap();
    let mut m = HeadMonitor::start(client, "main");
    assert_eq!(next_level(&mut m).await, (20, 20));
    // The half-sent head 21 is never delivered; head 20 is replayed after reconnecting.
    assert_eq!(next_level(&mut m).await, (20, 20));
    assert_eq!(next_level(&mut m).await, (22, 22));
    assert_eq!(m.status().reconnections, 1);
    assert_eq!(server.hits("/monitor/heads/main"), 2);
}

#[tokio::test]
async fn stalled_stream_is_abandoned() {
    let server = Server::start(|_, n| {
        if n == 0 {
            // One head, then silence (the double keeps the connection open).
            Reply::Stream(vec![data(&format!("{}\n", head_json(30, 30)))])
        } else {
            Reply::Stream(vec![data(&format!("{}\n", head_json(31, 31)))])
        }
    })
    .await;
    let client = L1Client::new(L1Config {
        stream_initial_timeout: Duration::from_millis(300),
        replay_last_head: false,
        ..fast(server.url())
    })
    .unwrap();
    let mut m = HeadMonitor::start(client, "main");
    assert_eq!(next_level(&mut m).await, (30, 30));
    // No replay: the next head comes from the second connection.
    assert_eq!(next_level(&mut m).await, (31, 31));
    assert_eq!(server.hits("/monitor/heads/main"), 2);
}

#[tokio::test]
async fn server_errors_then_recovery() {
    let server = Server::start(|_, n| {
        if n < 2 {
            Reply::Full(500, "boom".into())
        } else {
            Reply::Stream(vec![data(&format!("{}\n", head_json(40, 40)))])
        }
    })
    .await;
    let client = L1Client::new(fast(server.url())).unwrap();
    let mut m = HeadMonitor::start(client, "main");
    assert_eq!(next_level(&mut m).await, (40, 40));
    assert_eq!(server.hits("/monitor/heads/main"), 3);
    let s = m.status();
    assert!(matches!(s.connection, Connection::Connected { .. }));
    assert_eq!(s.reconnections, 0);
}

#[tokio::test]
async fn status_reports_disconnection() {
    let server = Server::start(|_, _| Reply::Full(503, "down".into())).await;
    let client = L1Client::new(fast(server.url())).unwrap();
    let m = HeadMonitor::start(client, "main");
    let mut w = m.status_watch();
    let status = tokio::time::timeout(GUARD, async {
        loop {
            let s = w.borrow_and_update().clone();
            if server.hits("/") >= 3 && matches!(s.connection, Connection::Disconnected { .. }) {
                return s;
            }
            w.changed().await.unwrap();
        }
    })
    .await
    .expect("never disconnected");
    let Connection::Disconnected { reason, .. } = &status.connection else {
        unreachable!()
    };
    assert!(reason.contains("503"), "{reason}");
    assert!(!status.is_connected());
    assert_eq!(status.last_head, None);
}

#[tokio::test]
async fn malformed_head_reconnects() {
    let server = Server::start(|_, n| {
        if n == 0 {
            Reply::Stream(vec![data("{\"hash\":\"nope\"}\n")])
        } else {
            Reply::Stream(vec![data(&format!("{}\n", head_json(50, 50)))])
        }
    })
    .await;
    let client = L1Client::new(fast(server.url())).unwrap();
    let mut m = HeadMonitor::start(client, "main");
    assert_eq!(next_level(&mut m).await, (50, 50));
    assert_eq!(server.hits("/monitor/heads/main"), 2);
}
