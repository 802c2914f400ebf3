//! The Node.js face of sdk-rust (napi-rs). Each method translates arguments and errors and
//! calls the SDK; `index.js` adds the callback (`streamTimers`) and async-iterator forms over
//! the native `EventStream.next()`.

#![allow(unsafe_code)] // napi-derive generates the FFI glue.

mod client;
mod error;
mod stream;
mod timer;
