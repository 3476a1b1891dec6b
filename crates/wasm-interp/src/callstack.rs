//! Read-only view of the call-stack changes a tick state announces, for profilers (Octez
//! `src/lib_wasm_debugger/profiling.ml` `update_call_stack`; `docs/reference/wasm-ticks.md`
//! §1.3–1.5).
//!
//! The frames of `step_kont` do not record which function they run, so the call stack is
//! rebuilt from events seen on the state *before* each tick: the start and end of the
//! `Decode`, `Link` and `Init` phases, a `call`/`call_indirect` about to run (first admin
//! instruction of the top label at `LS_Start`), the end of a frame (`SK_Start` on a finished
//! label continuation) and the end of a host function (`Inv_stop` without a fresh frame and no
//! tick left).

use crate::codec::{self, Blob, Codec, Result, Tree, join, read_tag};
use crate::eval::Admin;
use crate::lazy::LazyVec;
use crate::link::LinkState;

/// A change of the call stack announced by a tick state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallEvent {
    /// `Decode` at `MKStart`: the decoding phase starts.
    DecodeStart,
    /// `Decode` at `MKStop`: decoding ends, linking starts.
    DecodeStop,
    /// `Link` with every import resolved: linking ends, initialisation starts.
    LinkDone,
    /// `Init` at `IK_Stop`: initialisation ends, `kernel_run` starts.
    InitStop,
    /// `call x` is the next instruction (`x`: function index in the module).
    Call(i32),
    /// `call_indirect x y` is the next instruction (`x`: the table index, as Octez reports).
    CallIndirect(i32),
    /// A frame finished (`SK_Start` on `Label_result` or `Label_trapped`): its call ends.
    FrameEnd,
    /// A host function finished (`Inv_stop`, no fresh frame, no tick left): its call ends.
    HostEnd,
}

fn wasm_value() -> Vec<String> {
    vec!["wasm".to_owned(), "value".to_owned()]
}

/// The call-stack event of the tick state in `root` (`wasm/tag`, `wasm/value`), if any. Only
/// reads the tree.
pub fn call_event(root: &durable_tree::Tree) -> Result<Option<CallEvent>> {
    let root = Tree::Plain(root.clone());
    let Some(tag) = codec::read_steps(&root, &["wasm", "tag"])? else {
        return Ok(None);
    };
    let tag = codec::Str::from_bytes(&tag)
        .map(|s| s.0)
        .unwrap_or_default();
    let v = wasm_value();
    Ok(match tag.as_slice() {
        b"decode" => match read_tag(&root, &join(&v, &["module_kont"]))?.as_str() {
            "MKStart" => Some(CallEvent::DecodeStart),
            "MKStop" => Some(CallEvent::DecodeStop),
            _ => None,
        },
        b"link" => {
            let st = LinkState::decode(&root, &v)?;
            (st.imports_offset >= st.ast_module.imports.num_elements())
                .then_some(CallEvent::LinkDone)
        }
        b"init" => (read_tag(&root, &join(&v, &["init_kont"]))? == "IK_Stop")
            .then_some(CallEvent::InitStop),
        b"eval" => eval_event(&root)?,
        _ => None,
    })
}

/// The tag of the tagged union at `p` (`p/tag`), `None` if absent.
fn tag_at(root: &Tree, p: &[&str]) -> Result<Option<Vec<u8>>> {
    let mut steps = p.to_vec();
    steps.push("tag");
    Ok(codec::read_steps(root, &steps)?
        .and_then(|b| codec::Str::from_bytes(&b))
        .map(|s| s.0))
}

/// The event of an `Eval` state, reading only the parts of `step_kont` it depends on
/// (`wasm/value/config/step_kont`, encoded as [`crate::eval::StepKont`]).
fn eval_event(root: &Tree) -> Result<Option<CallEvent>> {
    const SK: [&str; 5] = ["wasm", "value", "config", "step_kont", "value"];
    let kont_tag = tag_at(root, &SK[..4])?;
    Ok(match kont_tag.as_deref() {
        Some(b"SK_Start") => {
            let p = [&SK[..], &["top", "label_kont"]].concat();
            matches!(
                tag_at(root, &p)?.as_deref(),
                Some(b"Label_result" | b"Label_trapped")
            )
            .then_some(CallEvent::FrameEnd)
        }
        Some(b"SK_Next") => {
            let k = [&SK[..], &["kont"]].concat();
            match tag_at(root, &k)?.as_deref() {
                Some(b"LS_Start") => {
                    let lk = [&k[..], &["value"]].concat();
                    if tag_at(root, &lk)?.as_deref() != Some(b"Label_stack") {
                        return Ok(None);
                    }
                    let es: Vec<String> = [&lk[..], &["value", "top", "instructions"]]
                        .concat()
                        .iter()
                        .map(|s| (*s).to_owned())
                        .collect();
                    let mut es = LazyVec::<Admin>::decode(root, &es)?;
                    if es.num_elements() > 0
                        && let Admin::Plain(i) = es.get(0)?
                    {
                        match i.tag.as_str() {
                            "Call" => first_arg(&i.args).map(CallEvent::Call),
                            "CallIndirect" => first_arg(&i.args).map(CallEvent::CallIndirect),
                            _ => None,
                        }
                    } else {
                        None
                    }
                }
                Some(b"LS_Craft_frame") => {
                    let lk = [&k[..], &["value", "label_kont"]].concat();
                    let ik = [&k[..], &["value", "invoke_kont"]].concat();
                    let ff = [&ik[..], &["value", "fresh_frame"]].concat();
                    let rt = [&ik[..], &["value", "remaining_ticks"]].concat();
                    let host_end = tag_at(root, &lk)?.as_deref() == Some(b"Label_stack")
                        && tag_at(root, &ik)?.as_deref() == Some(b"Inv_stop")
                        && matches!(tag_at(root, &ff)?.as_deref(), None | Some(b"None"))
                        // `Z.zero` is the one byte 0x00.
                        && codec::read_steps(root, &rt)?.as_deref() == Some(&[0u8][..]);
                    host_end.then_some(CallEvent::HostEnd)
                }
                _ => None,
            }
        }
        _ => None,
    })
}

/// The first `int32` argument of an instruction (`value/$1`, or `value/1/$1`).
fn first_arg(args: &[(Vec<String>, Vec<u8>)]) -> Option<i32> {
    args.first().and_then(|(_, b)| i32::from_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tagged(tag: &str, rest: &[(&[&str], &str)]) -> durable_tree::Tree {
        let mut t = durable_tree::Tree::empty();
        t.set_contents(&["wasm", "tag"], codec::Str(tag.into()).to_bytes())
            .unwrap();
        for (p, v) in rest {
            t.set_contents(p, codec::Str(v.as_bytes().to_vec()).to_bytes())
                .unwrap();
        }
        t
    }

    #[test]
    fn phase_events() {
        assert_eq!(call_event(&durable_tree::Tree::empty()).unwrap(), None);
        assert_eq!(call_event(&tagged("padding", &[])).unwrap(), None);
        let kont = ["wasm", "value", "module_kont", "tag"];
        assert_eq!(
            call_event(&tagged("decode", &[(&kont, "MKStart")])).unwrap(),
            Some(CallEvent::DecodeStart)
        );
        assert_eq!(
            call_event(&tagged("decode", &[(&kont, "MKField")])).unwrap(),
            None
        );
        let init = ["wasm", "value", "init_kont", "tag"];
        assert_eq!(
            call_event(&tagged("init", &[(&init, "IK_Stop")])).unwrap(),
            Some(CallEvent::InitStop)
        );
        assert!(call_event(&tagged("decode", &[])).is_err());
    }

    #[test]
    fn eval_frame_and_host_ends() {
        let sk = ["wasm", "value", "config", "step_kont", "tag"];
        let top = [
            "wasm",
            "value",
            "config",
            "step_kont",
            "value",
            "top",
            "label_kont",
            "tag",
        ];
        let ended = tagged("eval", &[(&sk, "SK_Start"), (&top, "Label_result")]);
        assert_eq!(call_event(&ended).unwrap(), Some(CallEvent::FrameEnd));
        let running = tagged("eval", &[(&sk, "SK_Start"), (&top, "Label_stack")]);
        assert_eq!(call_event(&running).unwrap(), None);
        let k = ["wasm", "value", "config", "step_kont", "value", "kont"];
        let lk = [&k[..], &["value", "label_kont", "tag"]].concat();
        let ik = [&k[..], &["value", "invoke_kont", "tag"]].concat();
        let kt = [&k[..], &["tag"]].concat();
        let mut host = tagged(
            "eval",
            &[
                (&sk, "SK_Next"),
                (&kt, "LS_Craft_frame"),
                (&lk, "Label_stack"),
                (&ik, "Inv_stop"),
            ],
        );
        let rt = [
            &k[..],
            &["value", "invoke_kont", "value", "remaining_ticks"],
        ]
        .concat();
        host.set_contents(&rt, vec![0]).unwrap();
        assert_eq!(call_event(&host).unwrap(), Some(CallEvent::HostEnd));
        host.set_contents(&rt, vec![3]).unwrap();
        assert_eq!(call_event(&host).unwrap(), None);
    }
}
