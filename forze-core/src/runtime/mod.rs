//! The runtime: backends registered by logical name, lifecycle, execution contexts.

mod deps;
mod execution;
mod lifecycle;
mod lifecycle_step;
mod registry;

pub use deps::{DepsModule, RegistrationKind, Registrations};
pub use execution::{DocumentAccess, ExecutionContext, ExecutionRuntime};
pub use lifecycle::{FrozenLifecycle, LifecyclePlan};
pub use lifecycle_step::{DEFAULT_STEP_TIMEOUT, LifecycleHook, LifecycleModule, LifecycleStep};
pub use registry::{DepsRegistry, FrozenDeps};
