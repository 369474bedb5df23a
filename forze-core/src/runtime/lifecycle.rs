//! `LifecyclePlan` → `freeze()` → `FrozenLifecycle`: startup in order, shutdown in reverse.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use crate::error::{Error, ErrorKind, Result};
use crate::runtime::{LifecycleModule, LifecycleStep};

/// The lifecycle steps of an application: the steps of each module, then the explicit steps.
///
/// # Examples
///
/// ```
/// use forze_core::runtime::{LifecycleHook, LifecycleStep};
/// use forze_core::BoxFuture;
/// use forze_core::{LifecyclePlan, Result};
///
/// #[derive(Debug)]
/// struct Pool;
/// impl LifecycleHook for Pool {
///     fn startup(&self) -> BoxFuture<'_, Result<()>> { Box::pin(async { Ok(()) }) }
///     fn shutdown(&self) -> BoxFuture<'_, Result<()>> { Box::pin(async { Ok(()) }) }
/// }
///
/// let plan = LifecyclePlan::new().with_steps([LifecycleStep::new("pool", Pool)]).freeze()?;
/// assert_eq!(plan.step_names().collect::<Vec<_>>(), ["pool"]);
/// # Ok::<(), forze_core::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct LifecyclePlan {
    modules: Vec<Box<dyn LifecycleModule>>,
    steps: Vec<LifecycleStep>,
}

impl LifecyclePlan {
    /// An empty plan.
    pub fn new() -> Self {
        Self::default()
    }

    /// A plan made of the steps of `modules`, in order.
    pub fn from_modules(modules: impl IntoIterator<Item = Box<dyn LifecycleModule>>) -> Self {
        LifecyclePlan {
            modules: modules.into_iter().collect(),
            steps: Vec::new(),
        }
    }

    /// The same plan with more modules (their steps come before the explicit steps).
    #[must_use]
    pub fn with_modules(
        mut self,
        modules: impl IntoIterator<Item = Box<dyn LifecycleModule>>,
    ) -> Self {
        self.modules.extend(modules);
        self
    }

    /// The same plan with explicit steps appended.
    #[must_use]
    pub fn with_steps(mut self, steps: impl IntoIterator<Item = LifecycleStep>) -> Self {
        self.steps.extend(steps);
        self
    }

    /// Collect the steps and check them.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) if two steps have the same name.
    pub fn freeze(self) -> Result<FrozenLifecycle> {
        let mut steps: Vec<LifecycleStep> = self.modules.iter().flat_map(|m| m.steps()).collect();
        steps.extend(self.steps);
        let mut seen = HashSet::new();
        for step in &steps {
            if !seen.insert(step.name.clone()) {
                return Err(Error::config(format!(
                    "lifecycle step `{}` is registered twice; step names must be unique",
                    step.name
                )));
            }
        }
        Ok(FrozenLifecycle {
            steps: Arc::from(steps),
        })
    }
}

/// The checked lifecycle steps, in startup order. Cheap to clone.
#[derive(Clone, Default)]
pub struct FrozenLifecycle {
    steps: Arc<[LifecycleStep]>,
}

impl fmt::Debug for FrozenLifecycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.step_names()).finish()
    }
}

impl FrozenLifecycle {
    /// The step names in startup order.
    pub fn step_names(&self) -> impl Iterator<Item = &str> {
        self.steps.iter().map(LifecycleStep::name)
    }

    pub(crate) fn steps(&self) -> &[LifecycleStep] {
        &self.steps
    }
}

/// Start one step under its timeout.
pub(crate) async fn start_step(step: &LifecycleStep) -> Result<()> {
    match tokio::time::timeout(step.timeout, step.hook.startup()).await {
        Ok(Ok(())) => {
            tracing::debug!(step = %step.name, "lifecycle step started");
            Ok(())
        }
        Ok(Err(err)) => Err(Error::new(
            err.kind(),
            format!("lifecycle step `{}` failed to start", step.name),
        )
        .with_source(err)),
        Err(_) => Err(Error::new(
            ErrorKind::Unavailable,
            format!(
                "lifecycle step `{}` did not start within its timeout of {:?}",
                step.name, step.timeout
            ),
        )),
    }
}

/// Shut `steps` down in reverse order, each under its timeout. Failures are logged, never
/// returned: every step gets its chance.
pub(crate) async fn stop_steps(steps: &[LifecycleStep]) {
    for step in steps.iter().rev() {
        match tokio::time::timeout(step.timeout, step.hook.shutdown()).await {
            Ok(Ok(())) => tracing::debug!(step = %step.name, "lifecycle step shut down"),
            Ok(Err(err)) => {
                tracing::warn!(step = %step.name, error = %err, "lifecycle step failed to shut down");
            }
            Err(_) => tracing::warn!(
                step = %step.name,
                timeout = ?step.timeout,
                "lifecycle step did not shut down within its timeout; abandoned"
            ),
        }
    }
}
