//! The one conversion from the SDK's error to JavaScript. napi's async functions reject with
//! its own `Status` as `code`, so the kind travels as a `[CODE] ` prefix of the message, and
//! `index.js` moves it to `error.code` (`NOT_FOUND`, `INVALID_ARGUMENT`, ...) before any caller
//! sees it.

pub type Result<T> = napi::Result<T>;

pub fn to_js(error: minoots::Error) -> napi::Error {
    napi::Error::from_reason(format!("[{}] {error}", error.code()))
}

pub fn invalid(field: &str, message: impl Into<String>) -> napi::Error {
    to_js(minoots::Error::InvalidArgument {
        field: field.into(),
        message: message.into(),
    })
}
