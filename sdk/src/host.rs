//! What the gateway offers every component (`hookgate:plugin/host@0.1.0`), with a native
//! stand-in for tests on other targets.

/// Severity of a log line written with [`log()`](crate::log()).
///
/// `Trace`, `Debug`, `Info`, `Warn`, `Error`.
pub use crate::__private::hookgate::plugin::host::Level;

/// Writes a line to the gateway's log and to the record of the current attempt.
///
/// The [`trace!`](crate::trace), [`debug!`](crate::debug), [`info!`](crate::info),
/// [`warn!`](crate::warn) and [`error!`](crate::error) macros format and log in one go.
///
/// Outside `wasm32` (native tests), the line is recorded for
/// [`testing::take_logs`](crate::testing::take_logs) and printed to stderr.
///
/// ```
/// use hookgate_sdk::{log, Level};
/// log(Level::Warn, "falling back to the default header");
/// ```
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::__private::hookgate::plugin::host::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    crate::testing::record_log(level, message);
}

/// A value from the `config` object of this component's binding in the gateway
/// configuration, or `None` when the key is not set.
///
/// Secrets belong there, never inside the component.
///
/// Outside `wasm32` (native tests), values come from
/// [`testing::set_config`](crate::testing::set_config).
///
/// ```
/// # hookgate_sdk::testing::set_config("secret", "s3cr3t");
/// let secret = hookgate_sdk::config("secret");
/// # assert_eq!(secret.as_deref(), Some("s3cr3t"));
/// ```
pub fn config(key: &str) -> Option<String> {
    #[cfg(target_arch = "wasm32")]
    return crate::__private::hookgate::plugin::host::config(key);
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::get_config(key);
}

/// Like [`config()`], with a default for a key that is not set.
///
/// ```
/// let header = hookgate_sdk::config_or("header", "x-signature");
/// # assert_eq!(header, "x-signature");
/// ```
pub fn config_or(key: &str, default: &str) -> String {
    config(key).unwrap_or_else(|| default.to_owned())
}

/// Installs (once) a panic hook that sends the panic message (`panicked at src/lib.rs:12:9:
/// <message>`) to the gateway's log at error level, instead of the default hook's stderr line,
/// so that a trapping component leaves one readable reason in the attempt record. Called by
/// the generated exports before each call into the component.
pub(crate) fn install_panic_hook() {
    #[cfg(target_arch = "wasm32")]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            std::panic::set_hook(Box::new(|info| log(Level::Error, &info.to_string())));
        });
    }
}
