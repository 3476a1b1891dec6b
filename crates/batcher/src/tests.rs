use super::*;

fn limits(min: usize, max_elements: usize, max_size: usize) -> Limits {
    Limits {
        min_batch_elements: min,
        max_batch_elements: max_elements,
        max_batch_size: max_size,
        capacity: 8,
    }
}

fn never(_: &InjectorOperationId) -> bool {
    false
}

fn op(n: u8) -> InjectorOperationId {
    InjectorOperationId::new([n; 32])
}

/// Octez's tezt `RPC API should work and be stable` (U025, wasm_2_0_0): the first requests
/// of a fresh node, five messages each, counters from 0.
#[test]
fn ids_match_octez() {
    let mut q = Queue::new(limits(1000, 1000, 32_000));
    let ids = |q: &mut Queue, msgs: &[&str]| -> Vec<String> {
        q.register(
            None,
            false,
            msgs.iter().map(|m| m.as_bytes().to_vec()).collect(),
            never,
        )
        .unwrap()
        .iter()
        .map(L2MessageId::to_b58check)
        .collect()
    };
    let first = ids(&mut q, &["1-1", "1-2", "1-3", "1-4", "1-5"]);
    assert_eq!(
        first[0],
        "scmsg2rwuPwGBrYsQHFuusVq5DAZFfJ4iGcAJ6Ttvyobd6b1V1oSpUk"
    );
    assert_eq!(
        first[4],
        "scmsg3j2jViLpky6CbTuQWUguz3HxuvUL3XZYppP8euHHuWeDdW6QZy"
    );
    let second = ids(&mut q, &["2-1"]);
    assert_eq!(
        second[0],
        "scmsg2Q8u9Ufd95zmF2DmjyhgaHyDNud45t5MXWh4BTdnnVabCT7hFc"
    );
    // Counter 64: a two-byte Zarith counter ("13-5" of the 13th request).
    assert_eq!(
        message_id(Some(64), b"13-5").to_b58check(),
        "scmsg38gfhAaeaNovx4XAKCQ97D9zEGmebYXvkKioDWd5DMLdAbVCDF"
    );
    // Without counter (drop_duplicate): the same content gives the same id.
    assert_eq!(message_id(None, b"x"), message_id(None, b"x"));
    assert_ne!(message_id(None, b"x"), message_id(Some(0), b"x"));
}

#[test]
fn protocol_max_batch_size_is_32k_minus_an_empty_add_messages() {
    // branch 32 + tag 1 + source 21 + fee 9 + counter 9 + gas 8 + storage 9
    // + list length 4 + empty message 4 + signature 64 = 161.
    assert_eq!(protocol_max_batch_size(), 32 * 1024 - 161);
    let l = Limits::from_config(&node_config::BatcherConfig::default()).unwrap();
    assert_eq!(l.max_batch_size, protocol_max_batch_size());
    assert_eq!((l.min_batch_elements, l.capacity), (10, DEFAULT_CAPACITY));
    let too_big = node_config::BatcherConfig {
        max_batch_size: Some(40_000),
        ..Default::default()
    };
    let e = Limits::from_config(&too_big).unwrap_err();
    assert!(e.to_string().contains("must be smaller than 32607"), "{e}");
}

#[test]
fn message_size_limit() {
    let mut q = Queue::new(limits(10, 100, 32_000));
    let ok = vec![0u8; MESSAGE_SIZE_LIMIT];
    let big = vec![0u8; MESSAGE_SIZE_LIMIT + 1];
    assert!(q.register(None, false, vec![ok.clone()], never).is_ok());
    let e = q.register(None, false, vec![ok, big], never).unwrap_err();
    assert_eq!(e.to_string(), "Message 1 is too large (max size is 4100)");
    // Nothing of a refused request is queued.
    assert_eq!(q.len(), 1);
    // A smaller configured batch size lowers the limit.
    let mut q = Queue::new(limits(10, 100, 50));
    assert_eq!(q.limits().max_message_size(), 50);
    assert!(q.register(None, false, vec![vec![1; 46]], never).is_ok());
    assert!(q.register(None, false, vec![vec![1; 47]], never).is_err());
}

#[test]
fn full_batches_only_from_min_elements() {
    let mut q = Queue::new(limits(3, 100, 32_000));
    q.register(None, false, vec![b"a".to_vec(), b"b".to_vec()], never)
        .unwrap();
    assert!(q.take_batches(true).is_empty());
    q.register(None, false, vec![b"c".to_vec()], never).unwrap();
    let b = q.take_batches(true);
    assert_eq!(b.len(), 1);
    assert_eq!(
        b[0].contents(),
        vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]
    );
    assert!(q.is_empty());
    // On a new head everything goes, even below the minimum.
    q.register(None, false, vec![b"d".to_vec()], never).unwrap();
    assert!(q.take_batches(true).is_empty());
    assert_eq!(q.take_batches(false).len(), 1);
}

#[test]
fn batch_size_and_element_boundaries() {
    // Each 6-byte message counts 10: 3 fit in 30, not 4.
    let mut q = Queue::new(limits(1, 100, 30));
    q.register(None, false, vec![vec![7; 6]; 7], never).unwrap();
    let sizes: Vec<usize> = q
        .take_batches(false)
        .iter()
        .map(|b| b.messages.len())
        .collect();
    assert_eq!(sizes, vec![3, 3, 1]);
    let mut q = Queue::new(limits(1, 2, 32_000));
    q.register(None, false, vec![vec![7; 6]; 5], never).unwrap();
    let sizes: Vec<usize> = q
        .take_batches(false)
        .iter()
        .map(|b| b.messages.len())
        .collect();
    assert_eq!(sizes, vec![2, 2, 1]);
    // only_full stops when fewer than min_batch_elements remain.
    let mut q = Queue::new(limits(2, 2, 32_000));
    q.register(None, false, vec![vec![7; 6]; 5], never).unwrap();
    assert_eq!(q.take_batches(true).len(), 2);
    assert_eq!(q.len(), 1);
}

#[test]
fn order_comes_first_then_counter() {
    let mut q = Queue::new(limits(100, 100, 32_000));
    q.register(None, false, vec![b"none".to_vec()], never)
        .unwrap();
    q.register(Some(5), false, vec![b"five".to_vec()], never)
        .unwrap();
    q.register(Some(2), false, vec![b"two".to_vec()], never)
        .unwrap();
    q.register(Some(5), false, vec![b"five-bis".to_vec()], never)
        .unwrap();
    let order: Vec<&[u8]> = q.elements().map(|m| m.content.as_slice()).collect();
    assert_eq!(order, vec![&b"two"[..], b"five", b"five-bis", b"none"]);
    let j = q.queue_json();
    assert_eq!(j[0]["order"], "2");
    assert_eq!(j[0]["message"]["counter"], "2");
    assert_eq!(j[0]["message"]["content"], hex::encode("two"));
    assert!(j[3].get("order").is_none());
    let b = q.take_batches(false);
    assert_eq!(b[0].order, Some(2));
    // Clearing by order: ≤ 5 goes, messages without order stay unless drop_no_order.
    q.register(Some(1), false, vec![b"1".to_vec()], never)
        .unwrap();
    q.register(Some(9), false, vec![b"9".to_vec()], never)
        .unwrap();
    q.register(None, false, vec![b"n".to_vec()], never).unwrap();
    q.clear(Some(5), false);
    let left: Vec<&[u8]> = q.elements().map(|m| m.content.as_slice()).collect();
    assert_eq!(left, vec![&b"9"[..], b"n"]);
    q.clear(Some(5), true);
    assert_eq!(q.len(), 1);
    q.clear(None, false);
    assert!(q.is_empty());
}

#[test]
fn drop_duplicate_and_statuses() {
    let mut q = Queue::new(limits(100, 100, 32_000));
    let id = q.register(None, true, vec![b"m".to_vec()], never).unwrap()[0];
    assert_eq!(id, message_id(None, b"m"));
    // Same id while queued: one message.
    q.register(None, true, vec![b"m".to_vec()], never).unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q.known(&id), Known::PendingBatch { content: b"m" });
    let b = q.take_batches(false);
    q.record_batched(&b[0], op(1));
    assert_eq!(
        q.known(&id),
        Known::Batched {
            content: b"m",
            operation: op(1)
        }
    );
    // Batched and still known to the injector: dropped.
    q.register(None, true, vec![b"m".to_vec()], |o| *o == op(1))
        .unwrap();
    assert!(q.is_empty());
    // Forgotten by the injector: queued again.
    q.register(None, true, vec![b"m".to_vec()], never).unwrap();
    assert_eq!(q.len(), 1);
    // Without drop_duplicate, ids differ.
    let ids = q
        .register(None, false, vec![b"m".to_vec(), b"m".to_vec()], never)
        .unwrap();
    assert_ne!(ids[0], ids[1]);
    assert_eq!(q.len(), 3);
    assert_eq!(q.known(&message_id(None, b"zz")), Known::Unknown);
}

#[test]
fn status_json_combines_batcher_and_injector() {
    use status::message_status_json;
    assert_eq!(
        message_status_json(&Known::Unknown, None),
        json!({"status": "unknown"})
    );
    assert_eq!(
        message_status_json(&Known::PendingBatch { content: b"ab" }, None),
        json!({"content": "6162", "status": "pending_batch"})
    );
    let batched = Known::Batched {
        content: b"ab",
        operation: op(1),
    };
    assert_eq!(
        message_status_json(&batched, None),
        json!({"content": "6162", "status": "unknown"})
    );
    let inj = json!({"status": "pending_injection", "operation": {"kind": "add_messages", "message": ["6162"]}});
    assert_eq!(
        message_status_json(&batched, Some(inj)),
        json!({"content": "6162", "status": "pending_injection",
               "operation": {"kind": "add_messages", "message": ["6162"]}})
    );
}

#[test]
fn queue_is_bounded() {
    let mut q = Queue::new(limits(100, 100, 32_000));
    q.register(None, false, vec![vec![1]; 8], never).unwrap();
    assert_eq!(
        q.register(None, false, vec![vec![1]], never).unwrap_err(),
        RegisterError::QueueFull
    );
}

struct Sink {
    taken: Vec<(Vec<Vec<u8>>, Option<i64>)>,
    fail: bool,
}

impl BatchSink for Sink {
    fn add_messages(
        &mut self,
        messages: Vec<Vec<u8>>,
        order: Option<i64>,
    ) -> Result<InjectorOperationId, SinkError> {
        if self.fail {
            return Err(SinkError("injector stopped".into()));
        }
        self.taken.push((messages, order));
        Ok(op(u8::try_from(self.taken.len()).unwrap()))
    }

    fn knows(&self, _: &InjectorOperationId) -> bool {
        true
    }
}

#[test]
fn batcher_hands_batches_to_the_sink_and_requeues_refusals() {
    let sink = Sink {
        taken: vec![],
        fail: true,
    };
    let mut b = Batcher::new(limits(2, 100, 32_000), Box::new(sink));
    let e = b
        .register(Some(3), false, vec![b"a".to_vec(), b"b".to_vec()])
        .unwrap_err();
    assert!(e.to_string().contains("injector stopped"), "{e}");
    // Refused: still queued, in the same order.
    assert_eq!(b.queue().len(), 2);
    let mut b2 = Batcher::new(
        limits(2, 100, 32_000),
        Box::new(Sink {
            taken: vec![],
            fail: false,
        }),
    );
    let ids = b2
        .register(Some(3), false, vec![b"a".to_vec(), b"b".to_vec()])
        .unwrap();
    assert!(b2.queue().is_empty());
    assert!(matches!(b2.known(&ids[1]), Known::Batched { operation, .. } if operation == op(1)));
    b2.register(None, false, vec![b"c".to_vec()]).unwrap();
    assert_eq!(b2.queue().len(), 1);
    b2.on_new_head().unwrap();
    assert!(b2.queue().is_empty());
}
