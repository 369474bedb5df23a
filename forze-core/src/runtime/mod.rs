//! The runtime: backends registered by logical name, lifecycle, execution contexts.

mod deps;
mod lifecycle_step;

pub use deps::{DepsModule, RegistrationKind, Registrations};
pub use lifecycle_step::{DEFAULT_STEP_TIMEOUT, LifecycleHook, LifecycleModule, LifecycleStep};
