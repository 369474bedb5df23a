//! Lifecycle steps: what adapters contribute to startup and shutdown.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::BoxFuture;
use crate::error::Result;

/// Default per-step timeout for startup and for shutdown.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// Startup and shutdown of one resource (a pool, a connection, a background task).
pub trait LifecycleHook: Send + Sync + fmt::Debug {
    /// Bring the resource up (connect, ping, check the schema).
    fn startup(&self) -> BoxFuture<'_, Result<()>>;
    /// Release it. Called only if `startup` succeeded.
    fn shutdown(&self) -> BoxFuture<'_, Result<()>>;
}

/// A named [`LifecycleHook`] with its timeout.
#[derive(Clone)]
pub struct LifecycleStep {
    pub(crate) name: Cow<'static, str>,
    pub(crate) hook: Arc<dyn LifecycleHook>,
    pub(crate) timeout: Duration,
}

impl LifecycleStep {
    /// A step named `name` (for logs and errors), with the default 10 s timeout.
    pub fn new(name: impl Into<Cow<'static, str>>, hook: impl LifecycleHook + 'static) -> Self {
        LifecycleStep {
            name: name.into(),
            hook: Arc::new(hook),
            timeout: DEFAULT_STEP_TIMEOUT,
        }
    }

    /// The timeout applied to startup and, separately, to shutdown.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The step's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Debug for LifecycleStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LifecycleStep")
            .field("name", &self.name)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A group of lifecycle steps, usually one per adapter (`PostgresLifecycleModule`).
pub trait LifecycleModule: Send + Sync + fmt::Debug {
    /// The steps, in startup order.
    fn steps(&self) -> Vec<LifecycleStep>;

    /// Box the module for [`LifecyclePlan::from_modules`](crate::LifecyclePlan::from_modules).
    fn boxed(self) -> Box<dyn LifecycleModule>
    where
        Self: Sized + 'static,
    {
        Box::new(self)
    }
}
