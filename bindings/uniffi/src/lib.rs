//! The Kotlin and Swift face of sdk-rust (uniffi). Async methods become `suspend` functions
//! (Swift `async`); the event stream is a callback interface returning a handle that stops it
//! when closed or dropped. Each function translates and calls the SDK; no client logic here.

#![allow(unsafe_code)] // uniffi's scaffolding is FFI.

mod client;
mod dead_letter;
mod error;
mod schedule;
mod timer;

uniffi::setup_scaffolding!("minoots");
