//! The one conversion from the SDK's error to Python: an exception class per kind, all under
//! `minoots.MinootsError`, with `code` and the kind's fields as attributes.

use pyo3::{create_exception, exceptions::PyException, prelude::*};

create_exception!(
    minoots,
    MinootsError,
    PyException,
    "Base class of every MINOOTS error; `code` names the kind."
);
create_exception!(
    minoots,
    InvalidArgumentError,
    MinootsError,
    "A request field is invalid; `field` names it."
);
create_exception!(
    minoots,
    NotFoundError,
    MinootsError,
    "No such timer or dead letter (for this tenant)."
);
create_exception!(
    minoots,
    AlreadyExistsError,
    MinootsError,
    "An idempotency key was reused with a different request."
);
create_exception!(
    minoots,
    FailedPreconditionError,
    MinootsError,
    "The timer is not in a state that allows this."
);
create_exception!(
    minoots,
    AbortedError,
    MinootsError,
    "A change lost to a concurrent one (the timer's state_version moved on): read it again."
);
create_exception!(
    minoots,
    OutOfRangeError,
    MinootsError,
    "A sequence or page token is out of range."
);
create_exception!(
    minoots,
    UnauthenticatedError,
    MinootsError,
    "Missing or unknown API key."
);
create_exception!(
    minoots,
    PermissionDeniedError,
    MinootsError,
    "The key lacks the role, or may not act for that tenant."
);
create_exception!(
    minoots,
    QuotaExceededError,
    MinootsError,
    "A quota or rate limit; `limit_type` and `retry_after` (seconds) say which and when."
);
create_exception!(
    minoots,
    UnavailableError,
    MinootsError,
    "No server answered; `retry_after` (seconds) when the server said."
);
create_exception!(
    minoots,
    TransportError,
    MinootsError,
    "The connection could not be made."
);
create_exception!(
    minoots,
    DeadlineExceededError,
    MinootsError,
    "A wait or call ran past its deadline."
);
create_exception!(
    minoots,
    InvalidSignatureError,
    MinootsError,
    "A webhook failed verification; `part` names the header."
);
create_exception!(
    minoots,
    InternalError,
    MinootsError,
    "Any other server error."
);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    for (name, class) in [
        ("MinootsError", py.get_type::<MinootsError>()),
        (
            "InvalidArgumentError",
            py.get_type::<InvalidArgumentError>(),
        ),
        ("NotFoundError", py.get_type::<NotFoundError>()),
        ("AlreadyExistsError", py.get_type::<AlreadyExistsError>()),
        (
            "FailedPreconditionError",
            py.get_type::<FailedPreconditionError>(),
        ),
        ("AbortedError", py.get_type::<AbortedError>()),
        ("OutOfRangeError", py.get_type::<OutOfRangeError>()),
        (
            "UnauthenticatedError",
            py.get_type::<UnauthenticatedError>(),
        ),
        (
            "PermissionDeniedError",
            py.get_type::<PermissionDeniedError>(),
        ),
        ("QuotaExceededError", py.get_type::<QuotaExceededError>()),
        ("UnavailableError", py.get_type::<UnavailableError>()),
        ("TransportError", py.get_type::<TransportError>()),
        (
            "DeadlineExceededError",
            py.get_type::<DeadlineExceededError>(),
        ),
        (
            "InvalidSignatureError",
            py.get_type::<InvalidSignatureError>(),
        ),
        ("InternalError", py.get_type::<InternalError>()),
    ] {
        m.add(name, class)?;
    }
    Ok(())
}

/// The exception for `error`, its attributes set.
pub fn to_py(error: minoots::Error) -> PyErr {
    use minoots::Error as E;
    let message = error.to_string();
    let err = match &error {
        E::InvalidArgument { .. } => InvalidArgumentError::new_err(message),
        E::NotFound(_) => NotFoundError::new_err(message),
        E::AlreadyExists(_) => AlreadyExistsError::new_err(message),
        E::FailedPrecondition(_) => FailedPreconditionError::new_err(message),
        E::Aborted(_) => AbortedError::new_err(message),
        E::OutOfRange(_) => OutOfRangeError::new_err(message),
        E::Unauthenticated(_) => UnauthenticatedError::new_err(message),
        E::PermissionDenied(_) => PermissionDeniedError::new_err(message),
        E::QuotaExceeded { .. } => QuotaExceededError::new_err(message),
        E::Unavailable { .. } => UnavailableError::new_err(message),
        E::Transport(_) => TransportError::new_err(message),
        E::DeadlineExceeded(_) => DeadlineExceededError::new_err(message),
        E::InvalidSignature { .. } => InvalidSignatureError::new_err(message),
        E::Other { .. } => InternalError::new_err(message),
    };
    Python::attach(|py| {
        let value = err.value(py);
        let _ = value.setattr("code", error.code());
        let _ = value.setattr("retry_after", error.retry_after().map(|d| d.as_secs_f64()));
        match &error {
            E::InvalidArgument { field, .. } => {
                let _ = value.setattr("field", field);
            }
            E::QuotaExceeded { limit_type, .. } => {
                let _ = value.setattr("limit_type", limit_type);
            }
            E::InvalidSignature { part, .. } => {
                let _ = value.setattr("part", part);
            }
            _ => {}
        }
    });
    err
}
