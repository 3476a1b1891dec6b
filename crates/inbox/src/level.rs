//! The rollup inbox of one L1 level (l1-and-signer.md §3.2, §3.4; Octez
//! `lib_sc_rollup_node/inbox.ml` `get_messages`, `lib_layer2_utils/layer1_services.ml`
//! `process_applied_manager_operations`, protocol `sc_rollup_inbox_repr.ml` `add_all_messages`).
//!
//! Order: `Start_of_level`, `Info_per_level{predecessor timestamp, predecessor hash}`,
//! `Protocol_migration` (first block of a protocol only), then the block's messages in block
//! order (all passes, operation order, content order; for each content its own messages, then
//! those of its internal operations), [DAL attested slots], `End_of_level`.
//!
//! The `Dal_attested_slots` messages (U025 and later) are built by [`crate::dal`] from the
//! level's DAL skip-list cells and placed by [`rollup_inbox_of_level_with_dal`] after the
//! block's messages, before `End_of_level` (docs/reference/dal.md §3).

use crate::block::{
    Block, BlockHeader, Destination, InternalResultBody, ManagerBody, OperationStatus,
};
use tezos_types::inbox::{InfoPerLevel, Transfer, level_witness};
use tezos_types::{
    BinMicheline, BlockHash, InboxMessage, InternalMessage, Level, MerkelizedPayloadHashesHash,
    Micheline,
};

/// Deterministic errors building the inbox of a level.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboxError {
    /// The header given as predecessor is not the block's predecessor.
    #[error(
        "block {block} (level {level}) has predecessor {expected}, but the header given is \
         {got} at level {got_level}"
    )]
    PredecessorMismatch {
        /// The block.
        block: BlockHash,
        /// Its level.
        level: Level,
        /// Its predecessor according to its header.
        expected: BlockHash,
        /// The header given.
        got: BlockHash,
        /// Level of the header given.
        got_level: Level,
    },
}

/// The messages a block contributes to the global inbox, without the protocol's own messages:
/// external messages of applied `smart_rollup_add_messages` (one per list element, in order),
/// and an internal `Transfer` for each applied internal `transaction` from an originated
/// contract to a smart rollup (`source` = the top-level operation's signer). Failed,
/// backtracked and skipped results contribute nothing. This is what Octez stores as the
/// level's `messages`.
pub fn block_messages(block: &Block) -> Vec<InboxMessage> {
    let mut out = Vec::new();
    for (_, content) in block.manager_contents() {
        if content.status == OperationStatus::Applied
            && let ManagerBody::AddMessages { messages } = &content.body
        {
            out.extend(messages.iter().cloned().map(InboxMessage::External));
        }
        for internal in &content.internal_results {
            if internal.status != OperationStatus::Applied {
                continue;
            }
            let (
                Destination::Originated(sender),
                InternalResultBody::Transaction {
                    destination: Destination::SmartRollup(destination),
                    parameters,
                    ..
                },
            ) = (&internal.source, &internal.body)
            else {
                continue;
            };
            // An absent `parameters` field means entrypoint `default` with `Unit`.
            let payload = parameters.as_ref().map_or_else(
                || BinMicheline::from_micheline(&Micheline::unit()),
                |p| p.value.clone(),
            );
            out.push(InboxMessage::Internal(InternalMessage::Transfer(
                Transfer {
                    payload,
                    sender: *sender,
                    source: content.source,
                    destination: *destination,
                },
            )));
        }
    }
    out
}

/// The full inbox of the level of `block`, in the protocol's order (module docs).
///
/// `predecessor` is the header of the block's predecessor (its timestamp goes into
/// `Info_per_level`); `protocol_migration` is the protocol version string (e.g. `"u025_025"`)
/// when `block` is the first block of a new protocol (activation level + 1), else `None`.
pub fn rollup_inbox_of_level(
    block: &Block,
    predecessor: &BlockHeader,
    protocol_migration: Option<&str>,
) -> Result<Vec<InboxMessage>, InboxError> {
    rollup_inbox_of_level_with_dal(block, predecessor, protocol_migration, Vec::new())
}

/// [`rollup_inbox_of_level`] with the level's `Dal_attested_slots` messages (from
/// [`crate::dal::dal_attested_slots_messages`]) inserted after the block's messages, before
/// `End_of_level` (protocol `add_all_messages`; docs/reference/dal.md §3).
pub fn rollup_inbox_of_level_with_dal(
    block: &Block,
    predecessor: &BlockHeader,
    protocol_migration: Option<&str>,
    dal_messages: Vec<InboxMessage>,
) -> Result<Vec<InboxMessage>, InboxError> {
    if predecessor.hash != block.header.predecessor
        || predecessor.shell.level.succ() != Some(block.header.level)
    {
        return Err(InboxError::PredecessorMismatch {
            block: block.hash,
            level: block.header.level,
            expected: block.header.predecessor,
            got: predecessor.hash,
            got_level: predecessor.shell.level,
        });
    }
    let mut out = vec![
        InboxMessage::SOL,
        InboxMessage::Internal(InternalMessage::InfoPerLevel(InfoPerLevel {
            predecessor_timestamp: predecessor.shell.timestamp.0,
            predecessor: predecessor.hash,
        })),
    ];
    if let Some(version) = protocol_migration {
        out.push(InboxMessage::Internal(InternalMessage::ProtocolMigration(
            version.to_owned(),
        )));
    }
    out.extend(block_messages(block));
    out.extend(dal_messages);
    out.push(InboxMessage::EOL);
    Ok(out)
}

/// The inbox after finalising the next level with `messages` (the full list, from
/// [`rollup_inbox_of_level`]), and that level's witness: the level becomes `prev.level + 1` and
/// a history cell `{witness, level}` is appended (§3.3; protocol `finalize_inbox_level`).
/// `None` on an empty list or an overflow.
pub fn next_inbox(
    prev: &tezos_types::inbox::Inbox,
    messages: &[InboxMessage],
) -> Option<(tezos_types::inbox::Inbox, MerkelizedPayloadHashesHash)> {
    let witness = level_witness(messages)?;
    let level = prev.level.checked_add(1)?;
    let cell = prev.old_levels_messages.next(witness, level)?;
    Some((
        tezos_types::inbox::Inbox {
            level,
            old_levels_messages: cell,
        },
        witness,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::ShellHeader;
    use tezos_types::inbox::{Inbox, InboxHistoryCell};
    use tezos_types::{BinDecode, BinEncode, Timestamp};

    const FIXTURE: &str = include_str!("../fixtures/block_with_rollup_ops.json");

    fn block() -> Block {
        Block::from_json(&serde_json::from_str(FIXTURE).unwrap()).unwrap()
    }

    fn pred(b: &Block) -> BlockHeader {
        BlockHeader {
            hash: b.header.predecessor,
            shell: ShellHeader {
                level: Level::new(100).unwrap(),
                timestamp: Timestamp::parse("2025-06-01T12:00:02Z").unwrap(),
                predecessor: BlockHash::ZERO,
                ..b.header.clone()
            },
        }
    }

    fn hex_of(m: &InboxMessage) -> String {
        hex::encode(m.to_bin())
    }

    #[test]
    fn inbox_of_fixture_level() {
        let b = block();
        let msgs = rollup_inbox_of_level(&b, &pred(&b), None).unwrap();
        let hex: Vec<_> = msgs.iter().map(hex_of).collect();
        let bootstrap2 = "00dac9f52543da1aed0bc1d6b46bf7c10db7014cd6";
        let kt1 = "01".repeat(20);
        let sr1_1 = "01".repeat(20);
        let sr1_2 = "02".repeat(20);
        assert_eq!(
            hex,
            vec![
                "0001".to_owned(),
                // IPL: timestamp 2025-06-01T12:00:02Z = 1748779202 = 0x683c40c2.
                format!(
                    "0003{:016x}{}",
                    1_748_779_202_i64,
                    hex::encode(b.header.predecessor.0)
                ),
                "0148656c6c6f".to_owned(),
                "0100ff".to_owned(),
                // Transfer: Micheline int 42 = 00 2a.
                format!("0000002a{kt1}{bootstrap2}{sr1_1}"),
                // Transfer without parameters: Unit = 03 0b.
                format!("0000030b{kt1}{bootstrap2}{sr1_2}"),
                "010102".to_owned(),
                "0002".to_owned(),
            ]
        );
    }

    #[test]
    fn protocol_migration_goes_after_info_per_level() {
        let b = block();
        let msgs = rollup_inbox_of_level(&b, &pred(&b), Some("u025_025")).unwrap();
        assert_eq!(
            hex_of(&msgs[2]),
            format!("0004{:08x}{}", 8, hex::encode("u025_025"))
        );
        assert_eq!(msgs.len(), 9);
        assert_eq!(msgs.last(), Some(&InboxMessage::EOL));
    }

    #[test]
    fn dal_messages_go_before_end_of_level() {
        let b = block();
        let dal = InboxMessage::from_bin(
            &hex::decode(
                "00050000000800100001efe0100000000016\
                 0002298c03ed7d454a101eb7022bc95f7e5f41ac7810",
            )
            .unwrap(),
        )
        .unwrap();
        let plain = rollup_inbox_of_level(&b, &pred(&b), Some("u025_025")).unwrap();
        let msgs =
            rollup_inbox_of_level_with_dal(&b, &pred(&b), Some("u025_025"), vec![dal.clone()])
                .unwrap();
        assert_eq!(msgs.len(), plain.len() + 1);
        assert_eq!(msgs[msgs.len() - 2], dal);
        assert_eq!(msgs[..msgs.len() - 2], plain[..plain.len() - 1]);
        assert_eq!(msgs.last(), Some(&InboxMessage::EOL));
    }

    #[test]
    fn block_messages_skip_unapplied() {
        let b = block();
        let msgs = block_messages(&b);
        assert_eq!(msgs.len(), 5);
        assert!(!msgs.contains(&InboxMessage::External(vec![0xaa])));
        assert!(!msgs.contains(&InboxMessage::External(vec![0xbb])));
    }

    #[test]
    fn wrong_predecessor_is_rejected() {
        let b = block();
        let mut p = pred(&b);
        p.shell.level = Level::new(99).unwrap();
        assert!(matches!(
            rollup_inbox_of_level(&b, &p, None),
            Err(InboxError::PredecessorMismatch { got_level, .. }) if i32::from(got_level) == 99
        ));
        let mut p = pred(&b);
        p.hash = b.hash;
        assert!(rollup_inbox_of_level(&b, &p, None).is_err());
    }

    #[test]
    fn next_inbox_appends_a_level() {
        let b = block();
        let msgs = rollup_inbox_of_level(&b, &pred(&b), None).unwrap();
        let genesis = Inbox {
            level: tezos_types::Level::new(100).unwrap(),
            old_levels_messages: InboxHistoryCell {
                witness: MerkelizedPayloadHashesHash::ZERO,
                level: tezos_types::Level::new(100).unwrap(),
                index: 0,
                back_pointers: vec![],
            },
        };
        let (inbox, witness) = next_inbox(&genesis, &msgs).unwrap();
        assert_eq!(inbox.level, tezos_types::Level::new(101).unwrap());
        assert_eq!(
            inbox.old_levels_messages.level,
            tezos_types::Level::new(101).unwrap()
        );
        assert_eq!(inbox.old_levels_messages.index, 1);
        assert_eq!(inbox.old_levels_messages.witness, witness);
        assert_eq!(
            inbox.old_levels_messages.back_pointers,
            vec![genesis.old_levels_messages.hash()]
        );
        assert_eq!(Some(witness), level_witness(&msgs));
        assert!(next_inbox(&genesis, &[]).is_none());
    }
}
