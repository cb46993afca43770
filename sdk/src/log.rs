//! Logging to the gateway: [`log()`] and the `trace!` .. `error!` macros.
//!
//! Each line goes to the gateway's log and to the record of the current attempt. The macros
//! take `format!` arguments and are also available at the crate root
//! (`hookgate_sdk::info!`).
//!
//! ```
//! use hookgate_sdk::log;
//!
//! let uid = "42";
//! log::info!("transformed {uid}");
//! log::warn!("field {} missing, using {}", "ts", 0);
//! log::log(log::Level::Debug, "plain line");
//! ```

pub use crate::host::{log, Level};
#[doc(inline)]
pub use crate::{debug, error, info, trace, warn};

/// Logs a `format!`-style line at [`Level::Trace`](crate::Level::Trace).
///
/// ```
/// hookgate_sdk::trace!("entering with {} headers", 3);
/// ```
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => {
        $crate::log($crate::Level::Trace, &::std::format!($($arg)+))
    };
}

/// Logs a `format!`-style line at [`Level::Debug`](crate::Level::Debug).
///
/// ```
/// hookgate_sdk::debug!("draft url {}", "https://example.com/hook");
/// ```
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => {
        $crate::log($crate::Level::Debug, &::std::format!($($arg)+))
    };
}

/// Logs a `format!`-style line at [`Level::Info`](crate::Level::Info).
///
/// ```
/// let uid = "u-1";
/// hookgate_sdk::info!("transformed {uid}");
/// ```
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => {
        $crate::log($crate::Level::Info, &::std::format!($($arg)+))
    };
}

/// Logs a `format!`-style line at [`Level::Warn`](crate::Level::Warn).
///
/// ```
/// hookgate_sdk::warn!("no {} header, using the default", "x-signature");
/// ```
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => {
        $crate::log($crate::Level::Warn, &::std::format!($($arg)+))
    };
}

/// Logs a `format!`-style line at [`Level::Error`](crate::Level::Error).
///
/// ```
/// hookgate_sdk::error!("target answered {}", 500);
/// ```
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => {
        $crate::log($crate::Level::Error, &::std::format!($($arg)+))
    };
}
