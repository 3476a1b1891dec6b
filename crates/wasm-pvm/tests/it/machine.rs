//! State-machine tests: windows, reboots, yields, flags, fallback, outbox and tree round trips.

use context_hash::Hash;
use wasm_pvm::{
    EngineError, GenesisParams, GuestMemory, HostState, KernelEngine, OutOfBounds, PvmState,
    PvmVersion, RevealError, RevealHandler, RunOutcome, Status, StuckError, TickState,
};

const M: u128 = 1000;

struct Mem(Vec<u8>);

impl GuestMemory for Mem {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), OutOfBounds> {
        let end = addr as usize + buf.len();
        buf.copy_from_slice(self.0.get(addr as usize..end).ok_or(OutOfBounds)?);
        Ok(())
    }
    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), OutOfBounds> {
        let end = addr as usize + data.len();
        self.0
            .get_mut(addr as usize..end)
            .ok_or(OutOfBounds)?
            .copy_from_slice(data);
        Ok(())
    }
}

/// An engine running a Rust closure as the kernel; `kernels` records the kernels it was given.
struct Script<F> {
    f: F,
    kernels: Vec<Vec<u8>>,
}

impl<F: FnMut(&[u8], &mut HostState<'_>, &mut Mem) -> RunOutcome> KernelEngine for Script<F> {
    fn run(
        &mut self,
        kernel: &[u8],
        _kernel_hash: &Hash,
        host: &mut HostState<'_>,
    ) -> Result<RunOutcome, EngineError> {
        self.kernels.push(kernel.to_vec());
        if kernel.starts_with(b"bad") {
            return Ok(RunOutcome::DecodeError("bad magic".into()));
        }
        host.kernel_instantiated()?;
        let mut mem = Mem(vec![0; 65536]);
        Ok((self.f)(kernel, host, &mut mem))
    }
}

fn script<F: FnMut(&[u8], &mut HostState<'_>, &mut Mem) -> RunOutcome>(f: F) -> Script<F> {
    Script {
        f,
        kernels: Vec::new(),
    }
}

struct NoReveal;

impl RevealHandler for NoReveal {
    fn reveal(&mut self, _: &[u8]) -> Result<Vec<u8>, RevealError> {
        Ok(Vec::new())
    }
}

fn params() -> GenesisParams {
    GenesisParams {
        ticks_per_snapshot: M,
        outbox_validity_period: 3,
        outbox_message_limit: 100,
        maximum_reboots_per_input: 1000,
    }
}

fn level(extra: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut v = vec![vec![0, 1], {
        let mut ipl = vec![0, 3];
        ipl.extend([0; 40]);
        ipl
    }];
    v.extend(extra.iter().map(|m| m.to_vec()));
    v.push(vec![0, 2]);
    v
}

/// Write `s` at address 0 and return `(0, len)`.
fn put(m: &mut Mem, s: &[u8]) -> (i32, i32) {
    m.0[..s.len()].copy_from_slice(s);
    (0, s.len() as i32)
}

fn value(s: &PvmState, k: &str) -> Option<Vec<u8>> {
    let k = PvmState::parse_key(k).unwrap();
    s.durable().read_all(&k).unwrap()
}

#[test]
fn genesis_roundtrip_and_hash_stability() {
    let s = PvmState::genesis(PvmVersion::V6, b"kernel", &params()).unwrap();
    assert_eq!(s.status(), Status::InputRequired);
    assert_eq!(s.reboot_counter(), 1001);
    let t = s.to_tree().unwrap();
    let back = PvmState::from_tree(&t).unwrap();
    assert_eq!(back.hash().unwrap(), s.hash().unwrap());
    assert_eq!(
        value(&s, "/readonly/wasm_version"),
        Some(b"2.0.0-r6".to_vec())
    );
    assert_eq!(value(&s, "/kernel/env/reboot"), Some(vec![]));
    let v5 = PvmState::genesis(PvmVersion::V5, b"kernel", &params()).unwrap();
    assert_ne!(v5.hash().unwrap(), s.hash().unwrap());
}

#[test]
fn one_level_costs_two_windows_and_reads_inputs() {
    let mut s = PvmState::genesis(PvmVersion::V6, b"k", &params()).unwrap();
    let mut seen = Vec::new();
    let mut e = script(|_, h: &mut HostState<'_>, m: &mut Mem| {
        loop {
            let n = h.read_input(m, 0, 100, 4096).unwrap();
            if n == 0 {
                break;
            }
            let info = m.0[..8].to_vec();
            seen.push((info, m.0[100..100 + n as usize].to_vec()));
        }
        let (a, l) = put(m, b"hello");
        assert_eq!(h.write_output(m, a, l).unwrap(), 0);
        RunOutcome::Returned
    });
    let ticks = s
        .process_level(0, &level(&[b"\x01ext"]), &mut e, &mut NoReveal, None)
        .unwrap();
    assert_eq!(ticks, 2 * M);
    assert_eq!(s.current_tick(), 2 * M);
    assert_eq!(s.status(), Status::InputRequired);
    assert_eq!(s.tick_state(), &TickState::Collect);
    drop(e);
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[2], (vec![0, 0, 0, 0, 2, 0, 0, 0], b"\x01ext".to_vec()));
    assert_eq!(s.outbox(0).unwrap().len(), 1);
    // After the yield: reboot flag written, counter reset, input buffer empty.
    assert_eq!(value(&s, "/kernel/env/reboot"), Some(vec![]));
    assert_eq!(
        value(&s, "/readonly/kernel/env/reboot_counter"),
        Some(1001i32.to_le_bytes().to_vec())
    );
    assert!(s.input_buffer().is_empty());
    assert_eq!(value(&s, "/readonly/kernel/boot.wasm"), Some(b"k".to_vec()));
    // Next level: outbox level advances, still 2 windows.
    let ticks = s
        .process_level(
            1,
            &level(&[]),
            &mut script(|_, _: &mut HostState<'_>, _: &mut Mem| RunOutcome::Returned),
            &mut NoReveal,
            None,
        )
        .unwrap();
    assert_eq!(ticks, 2 * M);
    assert_eq!(s.output_buffer().last_level(), Some(1));
    let back = PvmState::from_tree(&s.to_tree().unwrap()).unwrap();
    assert_eq!(back.hash().unwrap(), s.hash().unwrap());
}

#[test]
fn reboots_and_forced_yield() {
    let mut p = params();
    p.maximum_reboots_per_input = 2;
    let mut s = PvmState::genesis(PvmVersion::V6, b"k", &p).unwrap();
    let mut runs = 0;
    let mut counters = Vec::new();
    let mut e = script(|_, h: &mut HostState<'_>, m: &mut Mem| {
        runs += 1;
        let key = b"/readonly/kernel/env/reboot_counter";
        let (a, l) = put(m, key);
        assert_eq!(h.store_read(m, a, l, 0, 1000, 4).unwrap(), 4);
        counters.push(i32::from_le_bytes(m.0[1000..1004].try_into().unwrap()));
        let (a, l) = put(m, b"/kernel/env/reboot");
        m.0[500] = 0;
        assert_eq!(h.store_write(m, a, l, 0, 500, 1).unwrap(), 0);
        RunOutcome::Returned
    });
    // maximum 2 reboots: counter 3 at install; runs with counter 2, 1, 0 then forced yield.
    let ticks = s
        .process_level(0, &level(&[]), &mut e, &mut NoReveal, None)
        .unwrap();
    assert_eq!(ticks, 4 * M);
    drop(e);
    assert_eq!(runs, 3);
    assert_eq!(counters, [2, 1, 0]);
    assert_eq!(
        value(&s, "/readonly/kernel/env/too_many_reboot"),
        Some(vec![])
    );
    // A level where the kernel yields clears the flag.
    let ticks = s
        .process_level(
            1,
            &level(&[]),
            &mut script(|_, _: &mut HostState<'_>, _: &mut Mem| RunOutcome::Returned),
            &mut NoReveal,
            None,
        )
        .unwrap();
    assert_eq!(ticks, 2 * M);
    assert_eq!(value(&s, "/readonly/kernel/env/too_many_reboot"), None);
}

#[test]
fn trap_sets_and_success_clears_stuck_flag() {
    let mut s = PvmState::genesis(PvmVersion::V6, b"k", &params()).unwrap();
    let mut trap =
        script(|_, _: &mut HostState<'_>, _: &mut Mem| RunOutcome::Trapped("unreachable".into()));
    assert_eq!(
        s.process_level(0, &level(&[]), &mut trap, &mut NoReveal, None)
            .unwrap(),
        2 * M
    );
    assert_eq!(value(&s, "/readonly/kernel/env/stuck"), Some(vec![]));
    let mut ok = script(|_, _: &mut HostState<'_>, _: &mut Mem| RunOutcome::Returned);
    s.process_level(1, &level(&[]), &mut ok, &mut NoReveal, None)
        .unwrap();
    assert_eq!(value(&s, "/readonly/kernel/env/stuck"), None);
}

#[test]
fn failed_upgrade_falls_back() {
    let mut s = PvmState::genesis(PvmVersion::V6, b"good", &params()).unwrap();
    // The kernel installs a broken kernel and asks for a reboot.
    let mut e = script(|k: &[u8], h: &mut HostState<'_>, m: &mut Mem| {
        if k == b"good" {
            let (a, l) = put(m, b"/kernel/boot.wasm");
            m.0[600..603].copy_from_slice(b"bad");
            if h.store_read(m, a, l, 0, 700, 3).unwrap() == 3 && &m.0[700..703] == b"goo" {
                assert_eq!(h.store_write(m, a, l, 0, 600, 3).unwrap(), 0);
                let (a, l) = put(m, b"/kernel/env/reboot");
                assert_eq!(h.store_write(m, a, l, 0, 600, 0).unwrap(), 0);
            }
        }
        RunOutcome::Returned
    });
    let ticks = s
        .process_level(0, &level(&[]), &mut e, &mut NoReveal, None)
        .unwrap();
    // Collect window, good run (installs bad), bad run (fallback), then... the fallback window
    // ends without a reboot flag: yield.
    assert_eq!(ticks, 3 * M);
    assert_eq!(value(&s, "/kernel/boot.wasm"), Some(b"good".to_vec()));
    assert_eq!(
        value(&s, "/readonly/kernel/env/upgrade_error"),
        Some(vec![])
    );
    assert_eq!(e.kernels.len(), 2);
}

#[test]
fn no_fallback_is_permanently_stuck() {
    let mut s = PvmState::genesis(PvmVersion::V6, b"bad kernel", &params()).unwrap();
    let mut e = script(|_, _: &mut HostState<'_>, _: &mut Mem| RunOutcome::Returned);
    s.process_level(0, &level(&[]), &mut e, &mut NoReveal, None)
        .unwrap();
    assert!(matches!(
        s.tick_state(),
        TickState::Stuck(StuckError::NoFallbackKernel(_))
    ));
    assert_eq!(s.status(), Status::InputRequired);
    let t = s.current_tick();
    // Permanent: each input costs exactly one tick.
    let ticks = s
        .process_level(1, &level(&[]), &mut e, &mut NoReveal, None)
        .unwrap();
    assert_eq!(ticks, 3);
    assert_eq!(s.current_tick(), t + 3);
}

#[test]
fn protocol_migration_to_v4_changes_parameters() {
    let mut s = PvmState::genesis(PvmVersion::V3, b"k", &params()).unwrap();
    let mut msg = vec![0, 4, 0, 0, 0, 9];
    msg.extend(b"paris_019");
    s.set_input(0, 0, &[0, 1]).unwrap();
    s.set_input(0, 1, &msg).unwrap();
    assert_eq!(s.version().unwrap(), PvmVersion::V4);
    assert_eq!(s.max_nb_ticks(), 50_000_000_000_000);
    assert_eq!(s.output_buffer().validity_period(), 241_920);
    let mut unknown = vec![0, 4, 0, 0, 0, 3];
    unknown.extend(b"xyz");
    s.set_input(0, 2, &unknown).unwrap();
    assert_eq!(s.version().unwrap(), PvmVersion::V4);
}

#[test]
fn input_outside_collect_gets_stuck() {
    let mut s = PvmState::genesis(PvmVersion::V6, b"k", &params()).unwrap();
    s.set_input(0, 0, &[0, 1]).unwrap();
    s.set_input(0, 1, &[0, 2]).unwrap();
    s.set_input(0, 2, &[0, 2]).unwrap();
    assert_eq!(
        s.tick_state(),
        &TickState::Stuck(StuckError::InvalidState(
            "No input required during padding".into()
        ))
    );
    let back = PvmState::from_tree(&s.to_tree().unwrap()).unwrap();
    assert_eq!(back.tick_state(), s.tick_state());
    assert_eq!(back.hash().unwrap(), s.hash().unwrap());
}

#[test]
fn operational_error_leaves_state_unchanged() {
    struct Fail;
    impl RevealHandler for Fail {
        fn reveal(&mut self, _: &[u8]) -> Result<Vec<u8>, RevealError> {
            Err(RevealError("offline".into()))
        }
    }
    let mut s = PvmState::genesis(PvmVersion::V6, b"k", &params()).unwrap();
    let before = s.hash().unwrap();
    // An engine propagating a fatal host error after modifying durable storage.
    struct Fatal;
    impl KernelEngine for Fatal {
        fn run(
            &mut self,
            _: &[u8],
            _: &Hash,
            h: &mut HostState<'_>,
        ) -> Result<RunOutcome, EngineError> {
            let mut m = Mem(vec![0; 100]);
            h.kernel_instantiated()?;
            m.0[..2].copy_from_slice(b"/x");
            assert_eq!(h.store_write(&mut m, 0, 2, 0, 0, 2)?, 0);
            h.reveal_metadata(&mut m, 0, 24)?;
            Ok(RunOutcome::Returned)
        }
    }
    assert!(
        s.process_level(0, &level(&[]), &mut Fatal, &mut Fail, None)
            .is_err()
    );
    assert_eq!(s.hash().unwrap(), before);
    assert_eq!(s.current_tick(), 0);
}
