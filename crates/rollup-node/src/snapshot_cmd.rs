//! `snapshot export|import|info` (docs/reference/octez-rollup-node.md §7): runs the
//! [`SnapshotCommand`] with the `snapshot` crate and returns what Octez prints on stdout.

use crate::cli::SnapshotCommand;

/// The error of `e` followed by its causes not already in its text.
fn chain(e: &snapshot::SnapshotError) -> String {
    let mut out = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let t = c.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        cause = c.source();
    }
    out
}

/// Runs `cmd`; `Ok` holds the text for stdout, `Err` the error message.
///
/// # Errors
/// The snapshot error, with its causes.
pub fn run(cmd: SnapshotCommand) -> Result<String, String> {
    match cmd {
        SnapshotCommand::Info(src) => {
            let (header, format) = snapshot::info(&src).map_err(|e| chain(&e))?;
            Ok(snapshot::info_text(&header, format))
        }
        SnapshotCommand::Export(opts) => {
            let out = snapshot::export(&opts).map_err(|e| chain(&e))?;
            Ok(format!("Snapshot exported to {}\n", out.file.display()))
        }
        SnapshotCommand::Import(opts, level, dal_node) => {
            let l1 = match (&opts.l1_endpoint, opts.check) {
                (Some(e), true) => Some(snapshot::HttpL1::new(e).map_err(|e| chain(&e))?),
                _ => None,
            };
            let l1 = l1.as_ref().map(|l| l as &dyn snapshot::L1View);
            // A compact snapshot, or an Octez one (its irmin-pack context converted for the
            // first available block), is rebuilt by replay; pre-images its replay misses come
            // from the configured endpoint.
            let pre_images_endpoint = node_config::Config::load(&opts.data_dir.join("config.json"))
                .ok()
                .and_then(|c| c.pre_images_endpoint);
            let reconstruct = crate::replay::Reconstruct {
                pre_images_endpoint,
                dal: opts
                    .l1_endpoint
                    .clone()
                    .map(|l1| crate::replay::DalAccess { l1, dal_node }),
            };
            snapshot::import_at_level(&opts, level, l1, Some(&reconstruct))
                .map_err(|e| chain(&e))?;
            Ok("Snapshot successfully imported\n".to_string())
        }
    }
}
