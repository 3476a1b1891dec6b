//! `smart-rollup-wasm-debugger`: an interactive debugger for WASM PVM kernels, usable
//! like `octez-smart-rollup-wasm-debugger` (`wasm-pvm.md` §10.1).
//!
//! Modules: [`cli`] (options and start-up), [`commands`] (REPL syntax and printing),
//! [`inputs`] (`inputs.json`), [`installer`] (`--installer-config`), [`kernel`]
//! (kernel files and pre-flight checks), [`profiler`] (`profile`'s call graph and outputs),
//! [`session`] (command execution), [`symbols`] (function symbols of the `name` section).

pub mod cli;
pub mod commands;
pub mod inputs;
pub mod installer;
pub mod kernel;
pub mod profiler;
pub mod session;
pub mod symbols;
