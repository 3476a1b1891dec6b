//! The sandbox as adjudicator of refutation games: `smart_rollup_refute` and
//! `smart_rollup_timeout` applied with the protocol's rules (crate `refutation_game`), the
//! loser's bond slashed and half of it rewarded to the winner
//! (`sc_rollup_refutation_storage.ml` `apply_game_result`; receipts as in
//! `docs/reference/l1-and-signer.md` §2.7–§2.8), and the game RPCs' answers (§1.5).
//!
//! Final moves of the WASM PVM are verified with `pvm_tick`'s step
//! ([`PvmTickVerifier`]); the metadata and DAL-parameters reveals are answered from the
//! rollup's address and origination level and the constants' `dal_parametric`; DAL page proofs
//! are judged against the game's DAL snapshot, a confirmed page's KZG proof checked with the
//! sandbox's cryptobox ([`KzgVerifier`]). A step it cannot replay makes the move fail with
//! `smart_rollup_refutation_proof_not_supported` rather than be judged.

use refutation_game::{
    DEFAULT_NUMBER_OF_SECTIONS, DalParameters, DalProofContext, DalSnapshot, DissectionRule, Game,
    GameError, GameResult, Index, InputRequest, MAX_NUMBER_OF_PARALLEL_GAMES, MoveOutcome,
    PageVerifier, PlayContext, RollupContext, StakeView, StepInput, StepVerifier, Timeout,
    VerifiedStep, VerifyError, check_conflict_point, check_start_level, conflicting_stakers,
    timeout_result,
};
use serde_json::{Value, json};
use tezos_types::operation::{Commitment, Refutation};
use tezos_types::{
    BinEncode, CommitmentHash, DalCommitment, Level, PublicKeyHash, SmartRollupAddress, StateHash,
};

use crate::constants::Constants;
use crate::ops::PvmKind;
use crate::state::{
    BlockCtx, ErrorCategory, PROTO_ERROR_PREFIX, ProtoError, Rollup, State, blocks,
};

/// A game error as the sandbox reports it (`proto.<protocol>.<id>`, the Octez text in `msg`).
pub fn proto_error(e: &GameError) -> ProtoError {
    let category = match e.category() {
        refutation_game::Category::Permanent => ErrorCategory::Permanent,
        refutation_game::Category::Temporary => ErrorCategory::Temporary,
    };
    let mut err = ProtoError::new(category, &format!("{PROTO_ERROR_PREFIX}.{}", e.id()));
    err.fields = e.fields();
    if !err.fields.contains_key("msg") {
        err = err.with("msg", e.to_string());
    }
    err
}

fn err(e: GameError) -> ProtoError {
    proto_error(&e)
}

/// The WASM PVM's step verifier: `pvm_tick::step_transition` replayed on the proof's partial
/// tree (what `pvm_tick::verify_proof` does), keeping the state's input request.
pub struct PvmTickVerifier;

impl StepVerifier for PvmTickVerifier {
    fn verify(
        &self,
        pvm_step: &[u8],
        input: Option<&StepInput>,
    ) -> Result<VerifiedStep, VerifyError> {
        let input = match input {
            None => None,
            Some(StepInput::Message {
                level,
                counter,
                payload,
            }) => Some(pvm_tick::Input::Message {
                level: level.to_u32(),
                counter: *counter,
                payload: payload.clone(),
            }),
            Some(StepInput::Reveal(b)) => Some(pvm_tick::Input::Reveal(b.clone())),
        };
        let tick_error = |e: pvm_tick::TickError| {
            if e.is_unsupported() {
                VerifyError::Unsupported(e.to_string())
            } else {
                VerifyError::Invalid(e.to_string())
            }
        };
        let proof = durable_tree::proof::encoding::decode(pvm_step)
            .map_err(|e| VerifyError::Invalid(e.to_string()))?;
        let (request, _) = durable_tree::proof::partial::verify_step_proof(&proof, |t| {
            pvm_tick::step_transition_request(t, input.as_ref())
        })
        .map_err(tick_error)?;
        let request = match request {
            pvm_tick::StepRequest::NoInputRequired => InputRequest::NoInputRequired,
            pvm_tick::StepRequest::Initial => InputRequest::Initial,
            pvm_tick::StepRequest::FirstAfter(level, counter) => InputRequest::FirstAfter {
                level: Level::from_u32(level).ok_or_else(|| {
                    VerifyError::Invalid(format!("inbox level {level} too large"))
                })?,
                counter: u64::try_from(counter).map_err(|_| {
                    VerifyError::Invalid(format!("message counter {counter} too large"))
                })?,
            },
            pvm_tick::StepRequest::Reveal(r) => InputRequest::NeedsReveal(r),
        };
        Ok(VerifiedStep {
            start: StateHash(proof.before.hash().0),
            stop: StateHash(proof.after.hash().0),
            request,
        })
    }

    /// The level of `/wasm/input` in the proof's start state (`get_proof_state_level`).
    fn proof_state_level(&self, pvm_step: &[u8]) -> Result<Option<Level>, VerifyError> {
        let invalid = |e: &dyn std::fmt::Display| VerifyError::Invalid(e.to_string());
        let proof = durable_tree::proof::encoding::decode(pvm_step).map_err(|e| invalid(&e))?;
        let before = durable_tree::proof::partial::StepTree::of_proof(&proof.state)
            .map_err(|e| invalid(&e))?;
        match before
            .find_value(&["wasm", "input"])
            .map_err(|e| invalid(&e))?
        {
            None => Ok(None),
            Some(b) => {
                let input = wasm_pvm::decode_input_info(&b).map_err(|e| invalid(&e))?;
                Level::from_u32(input.level)
                    .map(Some)
                    .ok_or_else(|| invalid(&format!("inbox level {} too large", input.level)))
            }
        }
    }
}

/// The KZG check of a confirmed DAL page (`Dal.verify_page`) with the sandbox's cryptobox
/// (`crate::dal::verifier`: Octez's test SRS for the constants' `dal_parametric`).
struct KzgVerifier(std::sync::Arc<dal_crypto::Verifier>);

impl PageVerifier for KzgVerifier {
    fn verify_page(
        &self,
        params: &DalParameters,
        commitment: &DalCommitment,
        page_index: u16,
        page: &[u8],
        proof: &[u8; 48],
    ) -> bool {
        let mine = self.0.parameters();
        // The game's parameters are the constants' the verifier was built from.
        i64::try_from(mine.slot_size).ok() == Some(params.slot_size)
            && i64::try_from(mine.page_size).ok() == Some(params.page_size)
            && self
                .0
                .verify_page(&commitment.0, usize::from(page_index), page, proof)
                .is_ok()
    }
}

/// The rollup's stakes as the game rules read them.
struct Stakes<'a>(&'a Rollup);

impl StakeView for Stakes<'_> {
    fn commitment(&self, hash: &CommitmentHash) -> Option<Commitment> {
        self.0.commitments.get(hash).map(|i| i.commitment)
    }
    fn is_staked_on(&self, staker: &PublicKeyHash, hash: &CommitmentHash) -> bool {
        self.0.stakers.contains_key(staker)
            && self
                .0
                .commitments
                .get(hash)
                .is_some_and(|i| i.stakers.contains(staker))
    }
    fn staked_at_level(&self, staker: &PublicKeyHash, level: Level) -> Option<CommitmentHash> {
        if !self.0.stakers.contains_key(staker) {
            return None;
        }
        self.0
            .commitments
            .iter()
            .find(|(_, i)| i.commitment.inbox_level == level && i.stakers.contains(staker))
            .map(|(h, _)| *h)
    }
}

/// The DAL history cell a game starts with (`Dal_slot_repr.History.history_encoding`): the last
/// cell of the DAL skip list, or the genesis cell when no DAL cell was recorded yet.
fn dal_snapshot(st: &State) -> DalSnapshot {
    let genesis = tezos_types::dal::DalCell::genesis();
    let cell = st.dal.last.as_ref().map_or(&genesis, |(c, _)| c);
    DalSnapshot {
        json: cell.to_json(),
        bin: cell.to_bin(),
    }
}

/// The staker's games in the rollup (`get_ongoing_games_for_staker`).
pub fn games_of<'a>(r: &'a Rollup, staker: &PublicKeyHash) -> Vec<(Index, &'a Game)> {
    r.games
        .iter()
        .filter(|(i, _)| i.alice == *staker || i.bob == *staker)
        .map(|(i, g)| (*i, g))
        .collect()
}

/// `…/staker/<pkh>/games`.
pub fn games_json(r: &Rollup, staker: &PublicKeyHash) -> Value {
    Value::Array(
        games_of(r, staker)
            .into_iter()
            .map(|(i, g)| {
                json!({"game": g.to_json(), "alice": i.alice.to_b58check(),
                       "bob": i.bob.to_b58check()})
            })
            .collect(),
    )
}

/// `…/staker/<pkh>/conflicts` at a block of level `level`.
pub fn conflicts_json(
    r: &Rollup,
    staker: &PublicKeyHash,
    level: Level,
    constants: &Constants,
) -> Value {
    let stakers: Vec<PublicKeyHash> = r.stakers.keys().copied().collect();
    Value::Array(
        conflicting_stakers(
            &Stakes(r),
            staker,
            &stakers,
            r.lcc_level,
            level,
            blocks(constants.smart_rollup_commitment_period_in_blocks),
        )
        .iter()
        .map(|c| c.to_json())
        .collect(),
    )
}

/// `…/staker1/<a>/staker2/<b>/timeout`: the clocks, or `null` without a game.
pub fn timeout_json(r: &Rollup, a: PublicKeyHash, b: PublicKeyHash) -> Value {
    r.game_timeouts
        .get(&Index::new(a, b))
        .map_or(Value::Null, Timeout::to_json)
}

/// `…/staker1/<a>/staker2/<b>/timeout_reached` at a block of level `level`: the result a
/// timeout would give, or `null`.
pub fn timeout_reached_json(r: &Rollup, a: PublicKeyHash, b: PublicKeyHash, level: Level) -> Value {
    let index = Index::new(a, b);
    match (r.games.get(&index), r.game_timeouts.get(&index)) {
        (Some(g), Some(t)) => {
            timeout_result(g, t, &index, level).map_or(Value::Null, |res| res.to_json())
        }
        _ => Value::Null,
    }
}

fn freezer(staker: &PublicKeyHash, rollup: &SmartRollupAddress, change: i128) -> Value {
    json!({"kind":"freezer","category":"bonds","contract":staker.to_b58check(),
           "bond_id":{"smart_rollup":rollup.to_b58check()},
           "change":change.to_string(),"origin":"block"})
}

impl State {
    /// `smart_rollup_refute` from `player`: start a game or play a move. Returns the receipt's
    /// `game_status` and `balance_updates`.
    pub(crate) fn refute(
        &mut self,
        player: &PublicKeyHash,
        rollup_addr: &SmartRollupAddress,
        opponent: &PublicKeyHash,
        refutation: &Refutation,
        ctx: &BlockCtx,
        constants: &Constants,
    ) -> Result<(Value, Vec<Value>), ProtoError> {
        let index = Index::new(*player, *opponent);
        match refutation {
            Refutation::Start {
                player_commitment_hash,
                opponent_commitment_hash,
            } => {
                self.start_game(
                    rollup_addr,
                    (player, player_commitment_hash),
                    (opponent, opponent_commitment_hash),
                    ctx,
                    constants,
                )?;
                Ok((json!("ongoing"), vec![]))
            }
            Refutation::Move { choice, step } => {
                let r = self.rollup_mut(rollup_addr)?;
                let game = r
                    .games
                    .get(&index)
                    .ok_or_else(|| err(GameError::NoGame))?
                    .clone();
                if index.staker(game.turn) != *player {
                    return Err(err(GameError::WrongTurn));
                }
                // `check_stakes`: a player no longer staked has lost.
                let staked = |s: &PublicKeyHash| r.stakers.contains_key(s);
                let early = match (staked(&index.alice), staked(&index.bob)) {
                    (true, true) => None,
                    (false, true) => Some(GameResult::Loser {
                        reason: refutation_game::Reason::ConflictResolved,
                        loser: index.alice,
                    }),
                    (true, false) => Some(GameResult::Loser {
                        reason: refutation_game::Reason::ConflictResolved,
                        loser: index.bob,
                    }),
                    (false, false) => Some(GameResult::Draw),
                };
                let outcome = match early {
                    Some(res) => MoveOutcome::Ended(res),
                    None => {
                        let rule = match r.kind {
                            PvmKind::Wasm => DissectionRule::Wasm,
                            PvmKind::Arith | PvmKind::Riscv => DissectionRule::Default,
                        };
                        let dal = &constants.dal_parametric;
                        let reveal = &constants.smart_rollup_reveal_activation_level;
                        let dal_context = DalProofContext {
                            activation_level: if dal.feature_enable {
                                Level::new(reveal.dal_parameters)
                            } else {
                                None
                            },
                            attested_slots_validity_lag: reveal.dal_attested_slots_validity_lag,
                            attestation_lags: dal.attestation_lags.clone(),
                            page_verifier: crate::dal::verifier(dal).ok().map(|v| {
                                std::sync::Arc::new(KzgVerifier(v))
                                    as std::sync::Arc<dyn PageVerifier + Send + Sync>
                            }),
                        };
                        let play = PlayContext {
                            rule,
                            verifier: &PvmTickVerifier,
                            rollup: RollupContext {
                                address: *rollup_addr,
                                origination_level: r.origination_level,
                                dal_parameters: DalParameters {
                                    number_of_slots: dal.number_of_slots.into(),
                                    attestation_lag: dal.attestation_lag.into(),
                                    slot_size: dal.slot_size.into(),
                                    page_size: dal.page_size.into(),
                                },
                            },
                            dal: Some(&dal_context),
                        };
                        game.play(&index, *choice, step, &play).map_err(err)?
                    }
                };
                match outcome {
                    MoveOutcome::Ongoing(new) => {
                        let mover = game.turn;
                        let t = r
                            .game_timeouts
                            .get(&index)
                            .ok_or_else(|| err(GameError::NoGame))?
                            .update(mover, ctx.level)
                            .map_err(err)?;
                        r.games.insert(index, *new);
                        r.game_timeouts.insert(index, t);
                        Ok((json!("ongoing"), vec![]))
                    }
                    MoveOutcome::Ended(res) => {
                        let updates =
                            self.apply_game_result(rollup_addr, &index, &res, constants)?;
                        Ok((res.status_json(), updates))
                    }
                }
            }
        }
    }

    /// `start_game` (with `validate_sc_rollup_refute`'s checks first).
    fn start_game(
        &mut self,
        rollup_addr: &SmartRollupAddress,
        (refuter, refuter_hash): (&PublicKeyHash, &CommitmentHash),
        (defender, defender_hash): (&PublicKeyHash, &CommitmentHash),
        ctx: &BlockCtx,
        constants: &Constants,
    ) -> Result<(), ProtoError> {
        let inbox_snapshot = self
            .inbox
            .as_ref()
            .map(|i| i.old_levels_messages.clone())
            .ok_or_else(|| {
                ProtoError::permanent("smart_rollup_inbox_missing").with(
                    "msg",
                    "the sandbox has no rollup inbox: restart it from genesis",
                )
            })?;
        let dal = dal_snapshot(self);
        let r = self.rollup_mut(rollup_addr)?;
        let view = Stakes(r);
        let defender_commitment =
            check_conflict_point(&view, refuter, refuter_hash, defender, defender_hash)
                .map_err(err)?;
        check_start_level(
            ctx.level,
            defender_commitment.inbox_level,
            blocks(constants.smart_rollup_commitment_period_in_blocks),
        )
        .map_err(err)?;
        let index = Index::new(*refuter, *defender);
        if r.games.contains_key(&index) {
            return Err(err(GameError::GameAlreadyStarted));
        }
        for s in [index.alice, index.bob] {
            if !r.stakers.contains_key(&s) {
                return Err(err(GameError::NotStaked));
            }
            if games_of(r, &s).len() >= MAX_NUMBER_OF_PARALLEL_GAMES {
                return Err(err(GameError::MaxParallelGamesReached(s)));
            }
        }
        let parent = r
            .commitments
            .get(&defender_commitment.predecessor)
            .map(|i| i.commitment)
            .ok_or_else(|| {
                ProtoError::permanent("smart_rollup_unknown_commitment")
                    .with("commitment", defender_commitment.predecessor.to_b58check())
            })?;
        let game = Game::initial(
            inbox_snapshot,
            dal,
            ctx.level,
            &parent,
            &defender_commitment,
            *refuter,
            *defender,
            DEFAULT_NUMBER_OF_SECTIONS,
        )
        .map_err(err)?;
        r.games.insert(index, game);
        r.game_timeouts.insert(
            index,
            Timeout::initial(ctx.level, constants.smart_rollup_timeout_period_in_blocks),
        );
        Ok(())
    }

    /// `smart_rollup_timeout`: end the game whose player to move ran out of time.
    pub(crate) fn timeout(
        &mut self,
        rollup_addr: &SmartRollupAddress,
        stakers: &tezos_types::operation::Stakers,
        ctx: &BlockCtx,
        constants: &Constants,
    ) -> Result<(Value, Vec<Value>), ProtoError> {
        let index = Index::new(stakers.alice, stakers.bob);
        let r = self.rollup_mut(rollup_addr)?;
        let (Some(game), Some(t)) = (r.games.get(&index), r.game_timeouts.get(&index)) else {
            return Err(err(GameError::NoGame));
        };
        let res = timeout_result(game, t, &index, ctx.level).map_err(err)?;
        let updates = self.apply_game_result(rollup_addr, &index, &res, constants)?;
        Ok((res.status_json(), updates))
    }

    /// `apply_game_result`: remove the game; the loser (both on a draw), if still staked,
    /// loses its bond (burned as `smart_rollup_refutation_punishments`); the winner of a loser
    /// it removed gets half the stake (minted as `smart_rollup_refutation_rewards`).
    fn apply_game_result(
        &mut self,
        rollup_addr: &SmartRollupAddress,
        index: &Index,
        res: &GameResult,
        constants: &Constants,
    ) -> Result<Vec<Value>, ProtoError> {
        let stake = constants.smart_rollup_stake_amount;
        let r = self.rollup_mut(rollup_addr)?;
        r.games.remove(index);
        r.game_timeouts.remove(index);
        let slash = |r: &mut Rollup, s: &PublicKeyHash| -> Vec<Value> {
            if r.stakers.remove(s).is_none() {
                return vec![];
            }
            for info in r.commitments.values_mut() {
                info.stakers.remove(s);
            }
            vec![
                freezer(s, rollup_addr, -i128::from(stake)),
                json!({"kind":"burned","category":"smart_rollup_refutation_punishments",
                       "change":stake.to_string(),"origin":"block"}),
            ]
        };
        match res {
            GameResult::Loser { loser, .. } => {
                let mut updates = slash(r, loser);
                if !updates.is_empty() {
                    let winner = index.other(loser);
                    let reward = stake / 2;
                    self.credit(&winner, reward)?;
                    updates.push(json!({"kind":"minted",
                        "category":"smart_rollup_refutation_rewards",
                        "change":(-i128::from(reward)).to_string(),"origin":"block"}));
                    updates.push(json!({"kind":"contract","contract":winner.to_b58check(),
                        "change":reward.to_string(),"origin":"block"}));
                }
                Ok(updates)
            }
            GameResult::Draw => {
                let mut updates = slash(r, &index.alice);
                updates.extend(slash(r, &index.bob));
                Ok(updates)
            }
        }
    }
}

/// The receipt fields of a refute/timeout result.
pub(crate) fn receipt(
    r: &mut serde_json::Map<String, Value>,
    used: u64,
    (status, updates): (Value, Vec<Value>),
) {
    r.insert("consumed_milligas".into(), json!(used.to_string()));
    r.insert("game_status".into(), status);
    r.insert("balance_updates".into(), Value::Array(updates));
}
