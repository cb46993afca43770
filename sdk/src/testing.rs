//! A stand-in for the gateway when the component's code runs natively (`cargo test`).
//!
//! Only compiled for targets other than `wasm32`. The state is per thread, so tests running in
//! parallel do not see each other's configuration or logs.
//!
//! ```
//! use hookgate_sdk::{testing, Level};
//!
//! testing::set_config("secret", "s3cr3t");
//! assert_eq!(hookgate_sdk::config("secret").as_deref(), Some("s3cr3t"));
//!
//! hookgate_sdk::info!("hello {}", 42);
//! assert_eq!(testing::take_logs(), vec![(Level::Info, "hello 42".to_string())]);
//!
//! testing::reset();
//! assert_eq!(hookgate_sdk::config("secret"), None);
//! ```

use crate::Level;
use std::cell::RefCell;
use std::collections::BTreeMap;

thread_local! {
    static CONFIG: RefCell<BTreeMap<String, String>> = const { RefCell::new(BTreeMap::new()) };
    static LOGS: RefCell<Vec<(Level, String)>> = const { RefCell::new(Vec::new()) };
}

/// Sets the value [`config(key)`](crate::config()) returns on this thread.
///
/// ```
/// hookgate_sdk::testing::set_config("secret", "s3cret");
/// assert_eq!(hookgate_sdk::config("secret").as_deref(), Some("s3cret"));
/// ```
pub fn set_config(key: &str, value: &str) {
    CONFIG.with(|c| c.borrow_mut().insert(key.to_owned(), value.to_owned()));
}

/// Unsets `key`: [`config(key)`](crate::config()) returns `None` again on this thread.
///
/// ```
/// use hookgate_sdk::testing;
/// testing::set_config("secret", "s3cret");
/// testing::remove_config("secret");
/// assert_eq!(hookgate_sdk::config("secret"), None);
/// ```
pub fn remove_config(key: &str) {
    CONFIG.with(|c| c.borrow_mut().remove(key));
}

/// Returns (and forgets) the lines logged on this thread so far, oldest first.
///
/// ```
/// use hookgate_sdk::{testing, Level};
/// hookgate_sdk::info!("transformed {}", 7);
/// assert_eq!(testing::take_logs(), vec![(Level::Info, "transformed 7".to_string())]);
/// assert!(testing::take_logs().is_empty());
/// ```
pub fn take_logs() -> Vec<(Level, String)> {
    LOGS.with(|l| std::mem::take(&mut *l.borrow_mut()))
}

/// Forgets this thread's configuration and logs.
///
/// ```
/// use hookgate_sdk::testing;
/// testing::set_config("k", "v");
/// hookgate_sdk::info!("a line");
/// testing::reset();
/// assert_eq!(hookgate_sdk::config("k"), None);
/// assert!(testing::take_logs().is_empty());
/// ```
pub fn reset() {
    CONFIG.with(|c| c.borrow_mut().clear());
    LOGS.with(|l| l.borrow_mut().clear());
}

pub(crate) fn get_config(key: &str) -> Option<String> {
    CONFIG.with(|c| c.borrow().get(key).cloned())
}

pub(crate) fn record_log(level: Level, message: &str) {
    eprintln!("[{level:?}] {message}");
    LOGS.with(|l| l.borrow_mut().push((level, message.to_owned())));
}
