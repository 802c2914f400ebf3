//! The `minoots.v1` contract as Rust types, generated from `proto/minoots/v1/*.proto`.
//! Client and server stubs sit behind the `client` and `server` features so the SDK pulls only
//! what it uses; so do the pieces server and clients share: the JSON form (`json`), webhook
//! signing (`signing`) and text durations (`duration`).

#[allow(clippy::all, rust_2018_idioms, missing_docs)]
pub mod v1 {
    tonic::include_proto!("minoots.v1");
}

/// Encoded `FileDescriptorSet` of the contract, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/minoots_descriptor.bin"));

pub use prost_types;

#[cfg(feature = "json")]
pub mod json;

#[cfg(feature = "signing")]
pub mod signing;

#[cfg(feature = "duration")]
pub mod duration;
#[cfg(feature = "duration")]
pub use duration::{DurationError, parse_duration};

impl v1::TimerStatus {
    /// SETTLED, FAILED and CANCELLED are final: no transition leaves them.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Settled | Self::Failed | Self::Cancelled)
    }

    /// Lower-case name used in JSON payloads and logs (`scheduled`, `armed`, ...).
    pub fn wire_name(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::Scheduled => "scheduled",
            Self::Armed => "armed",
            Self::Fired => "fired",
            Self::Settled => "settled",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Paused => "paused",
        }
    }

    /// The status a name stands for, ignoring case: `scheduled`, `armed`, `fired`, `settled`,
    /// `failed`, `cancelled` (or `canceled`), `paused`.
    pub fn from_wire_name(name: &str) -> Option<Self> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "scheduled" => Self::Scheduled,
            "armed" => Self::Armed,
            "fired" => Self::Fired,
            "settled" => Self::Settled,
            "failed" => Self::Failed,
            "cancelled" | "canceled" => Self::Cancelled,
            "paused" => Self::Paused,
            _ => return None,
        })
    }
}

impl v1::TimerEventType {
    /// Event type name on the wire: `timer.scheduled`, `timer.fired`, ...
    pub fn wire_name(self) -> &'static str {
        match self {
            Self::Unspecified => "timer.unspecified",
            Self::Scheduled => "timer.scheduled",
            Self::Armed => "timer.armed",
            Self::Fired => "timer.fired",
            Self::Settled => "timer.settled",
            Self::Failed => "timer.failed",
            Self::Cancelled => "timer.cancelled",
            Self::Updated => "timer.updated",
            Self::Paused => "timer.paused",
            Self::Resumed => "timer.resumed",
            Self::ScheduleCreated => "schedule.created",
            Self::ScheduleUpdated => "schedule.updated",
            Self::SchedulePaused => "schedule.paused",
            Self::ScheduleResumed => "schedule.resumed",
            Self::ScheduleDeleted => "schedule.deleted",
            Self::ScheduleCompleted => "schedule.completed",
            Self::ScheduleSkipped => "schedule.skipped",
        }
    }

    /// Whether this is a schedule's event (the event carries `schedule`, not `timer`).
    pub fn is_schedule_event(self) -> bool {
        self as i32 >= Self::ScheduleCreated as i32
    }

    /// The event type a name stands for: `timer.fired` or `fired`, `schedule.created`,
    /// ignoring case.
    pub fn from_wire_name(name: &str) -> Option<Self> {
        let name = name.trim().to_ascii_lowercase();
        if let Some(short) = name.strip_prefix("schedule.") {
            return Some(match short {
                "created" => Self::ScheduleCreated,
                "updated" => Self::ScheduleUpdated,
                "paused" => Self::SchedulePaused,
                "resumed" => Self::ScheduleResumed,
                "deleted" => Self::ScheduleDeleted,
                "completed" => Self::ScheduleCompleted,
                "skipped" => Self::ScheduleSkipped,
                _ => return None,
            });
        }
        let short = name.strip_prefix("timer.").unwrap_or(&name);
        match short {
            "updated" => return Some(Self::Updated),
            "resumed" => return Some(Self::Resumed),
            _ => {}
        }
        v1::TimerStatus::from_wire_name(short).map(|status| match status {
            v1::TimerStatus::Armed => Self::Armed,
            v1::TimerStatus::Fired => Self::Fired,
            v1::TimerStatus::Settled => Self::Settled,
            v1::TimerStatus::Failed => Self::Failed,
            v1::TimerStatus::Cancelled => Self::Cancelled,
            v1::TimerStatus::Paused => Self::Paused,
            _ => Self::Scheduled,
        })
    }
}

impl v1::ScheduleState {
    /// State name on the wire: `active`, `paused`, `completed`, `deleted`.
    pub fn wire_name(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Completed => "completed",
            Self::Deleted => "deleted",
        }
    }

    pub fn from_wire_name(name: &str) -> Option<Self> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "active" => Self::Active,
            "paused" => Self::Paused,
            "completed" => Self::Completed,
            "deleted" => Self::Deleted,
            _ => return None,
        })
    }
}

impl v1::OverlapPolicy {
    /// `skip`, `buffer_one`, `allow_all`.
    pub fn wire_name(self) -> &'static str {
        match self {
            Self::Unspecified | Self::Skip => "skip",
            Self::BufferOne => "buffer_one",
            Self::AllowAll => "allow_all",
        }
    }

    pub fn from_wire_name(name: &str) -> Option<Self> {
        Some(
            match name.trim().to_ascii_lowercase().replace('-', "_").as_str() {
                "skip" => Self::Skip,
                "buffer_one" | "buffer" => Self::BufferOne,
                "allow_all" | "allow" => Self::AllowAll,
                _ => return None,
            },
        )
    }
}

impl v1::CatchUpPolicy {
    /// `none`, `latest`, `all`.
    pub fn wire_name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Unspecified | Self::Latest => "latest",
            Self::All => "all",
        }
    }

    pub fn from_wire_name(name: &str) -> Option<Self> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "none" => Self::None,
            "latest" => Self::Latest,
            "all" => Self::All,
            _ => return None,
        })
    }
}
