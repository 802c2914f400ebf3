//! The Node.js face of sdk-rust (napi-rs). Each method translates arguments and errors and
//! calls the SDK; `index.js` adds the callback (`streamTimers`) and async-iterator forms over
//! the native `EventStream.next()`.

#![allow(unsafe_code)]
// napi-derive generates the FFI glue.
// napi registers exported functions only outside `cfg(test)`.
#![cfg_attr(test, allow(dead_code))]

mod client;
mod dead_letter;
mod error;
mod schedule;
mod stream;
mod timer;
