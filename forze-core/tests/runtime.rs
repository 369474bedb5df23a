//! The runtime: registration errors (asserted by message), lifecycle ordering, rollback of
//! started steps, shutdown after errors and panics, step timeouts.

use std::sync::Arc;
use std::time::Duration;

use forze_core::memory::MemoryDepsModule;
use forze_core::prelude::*;
use forze_core::runtime::{LifecycleHook, LifecycleStep};
use forze_core::store::BoxFuture;
use forze_core::testing::{PRODUCT_SPEC, Product, ProductCreate, watchdog};
use forze_core::{
    CacheSpec, DepsRegistry, DocumentSpec, Error, ErrorKind, ExecutionRuntime, LifecyclePlan,
};
use parking_lot::Mutex;

fn runtime(modules: Vec<Box<dyn DepsModule>>) -> ExecutionRuntime {
    ExecutionRuntime::new(
        DepsRegistry::from_modules(modules).freeze().unwrap(),
        LifecyclePlan::new().freeze().unwrap(),
    )
}

#[test]
fn a_spec_without_a_document_backend_is_a_config_error_naming_what_is_registered() {
    let rt = runtime(vec![
        MemoryDepsModule::new()
            .document("orders")
            .document("users")
            .boxed(),
    ]);
    let ctx = rt.context();
    let err = ctx.document().query(&PRODUCT_SPEC).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert_eq!(
        err.to_string(),
        "no document backend is registered for document `products`; registered documents: [`orders`, `users`]"
    );
    let err = ctx.document().command(&PRODUCT_SPEC).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let empty = runtime(Vec::new());
    assert_eq!(
        empty
            .context()
            .cache(&PRODUCT_SPEC)
            .unwrap_err()
            .to_string(),
        "no document backend is registered for document `products`; registered documents: none"
    );
}

#[test]
fn a_cached_spec_without_its_cache_is_a_config_error_never_silently_uncached() {
    let rt = runtime(vec![
        MemoryDepsModule::new()
            .document("products")
            .cache("sessions")
            .boxed(),
    ]);
    let ctx = rt.context();
    let expected = "document `products` has `cache(name = \"products\")` but no cache is registered under `products`; registered caches: [`sessions`]";
    for err in [
        ctx.document().query(&PRODUCT_SPEC).unwrap_err(),
        ctx.document().command(&PRODUCT_SPEC).unwrap_err(),
        ctx.cache(&PRODUCT_SPEC).unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Config);
        assert_eq!(err.to_string(), expected);
    }
    let none = runtime(vec![MemoryDepsModule::new().document("products").boxed()]);
    assert!(
        none.context()
            .document()
            .query(&PRODUCT_SPEC)
            .unwrap_err()
            .to_string()
            .ends_with("registered caches: none")
    );
}

#[test]
fn conflicting_registrations_name_both_modules_and_the_name() {
    #[derive(Debug)]
    struct Named(&'static str, MemoryDepsModule);
    impl DepsModule for Named {
        fn name(&self) -> &str {
            self.0
        }
        fn register(&self, deps: &mut forze_core::runtime::Registrations) {
            self.1.register(deps);
        }
    }
    let cases = [
        (
            MemoryDepsModule::new().document("products"),
            "document `products` is registered twice: by module `first` and by module `second`",
        ),
        (
            MemoryDepsModule::new().cache("products"),
            "cache `products` is registered twice: by module `first` and by module `second`",
        ),
        (
            MemoryDepsModule::new().tx("products"),
            "transaction `products` is registered twice: by module `first` and by module `second`",
        ),
    ];
    for (module, expected) in cases {
        let err = DepsRegistry::from_modules([
            Named("first", module.clone()).boxed(),
            Named("second", module).boxed(),
        ])
        .freeze()
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().starts_with(expected), "{err}");
    }
    // Same name, different kinds: fine.
    DepsRegistry::from_modules([
        MemoryDepsModule::new().document("products").boxed(),
        MemoryDepsModule::new()
            .cache("products")
            .tx("products")
            .boxed(),
    ])
    .freeze()
    .unwrap();
}

#[tokio::test]
async fn a_missing_transaction_route_is_a_config_error() {
    watchdog(async {
        let rt = runtime(vec![MemoryDepsModule::new().document("products").tx("orders").boxed()]);
        let err = rt
            .context()
            .transaction("products", |_tx| async { Ok(()) })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert_eq!(
            err.to_string(),
            "no transaction manager is registered under route `products`; registered transaction routes: [`orders`]"
        );
    })
    .await;
}

#[test]
fn one_name_cannot_carry_two_cache_specs_in_one_runtime() {
    let rt = runtime(vec![
        MemoryDepsModule::new()
            .document("products")
            .cache("products")
            .boxed(),
    ]);
    let ctx = rt.context();
    ctx.document().query(&PRODUCT_SPEC).unwrap();
    let other = DocumentSpec::<Product>::new("products")
        .unwrap()
        .with_cache(
            CacheSpec::builder("products")
                .ttl(Duration::from_secs(60))
                .build()
                .unwrap(),
        );
    let err = ctx.document().query(&other).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(
        err.to_string().contains("two different cache specs"),
        "{err}"
    );
}

/// A lifecycle hook recording what happens into a shared log.
#[derive(Debug, Clone)]
struct Recorder {
    name: &'static str,
    log: Arc<Mutex<Vec<String>>>,
    fail_startup: bool,
    hang_startup: bool,
    hang_shutdown: bool,
    fail_shutdown: bool,
}

impl Recorder {
    fn new(name: &'static str, log: &Arc<Mutex<Vec<String>>>) -> Self {
        Recorder {
            name,
            log: Arc::clone(log),
            fail_startup: false,
            hang_startup: false,
            hang_shutdown: false,
            fail_shutdown: false,
        }
    }
    fn step(self) -> LifecycleStep {
        LifecycleStep::new(self.name, self).timeout(Duration::from_millis(50))
    }
}

impl LifecycleHook for Recorder {
    fn startup(&self) -> BoxFuture<'_, forze_core::Result<()>> {
        Box::pin(async move {
            self.log.lock().push(format!("start {}", self.name));
            if self.hang_startup {
                std::future::pending::<()>().await;
            }
            if self.fail_startup {
                return Err(
                    Error::new(ErrorKind::Unavailable, "cannot connect").with_source(
                        std::io::Error::new(
                            std::io::ErrorKind::ConnectionRefused,
                            "connection refused",
                        ),
                    ),
                );
            }
            Ok(())
        })
    }
    fn shutdown(&self) -> BoxFuture<'_, forze_core::Result<()>> {
        Box::pin(async move {
            self.log.lock().push(format!("stop {}", self.name));
            if self.hang_shutdown {
                std::future::pending::<()>().await;
            }
            if self.fail_shutdown {
                return Err(Error::new(ErrorKind::Internal, "close failed"));
            }
            Ok(())
        })
    }
}

#[derive(Debug)]
struct Module(Vec<Recorder>);

impl LifecycleModule for Module {
    fn steps(&self) -> Vec<LifecycleStep> {
        self.0.iter().cloned().map(Recorder::step).collect()
    }
}

fn plan_runtime(steps: Vec<Recorder>) -> ExecutionRuntime {
    let (module_steps, extra) = steps.split_at(1);
    let plan = LifecyclePlan::from_modules([Module(module_steps.to_vec()).boxed()])
        .with_steps(extra.iter().cloned().map(Recorder::step));
    ExecutionRuntime::new(
        DepsRegistry::from_modules([MemoryDepsModule::new().document("products").boxed()])
            .freeze()
            .unwrap(),
        plan.freeze().unwrap(),
    )
}

fn log() -> Arc<Mutex<Vec<String>>> {
    Arc::new(Mutex::new(Vec::new()))
}

fn taken(log: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
    std::mem::take(&mut *log.lock())
}

#[tokio::test]
async fn startup_in_order_shutdown_in_reverse() {
    watchdog(async {
        let l = log();
        let rt = plan_runtime(vec![
            Recorder::new("pg", &l),
            Recorder::new("redis", &l),
            Recorder::new("metrics", &l),
        ]);
        let out = rt
            .scope(|ctx| {
                let l = Arc::clone(&l);
                async move {
                    l.lock().push("body".into());
                    let docs = ctx.document().command(&PRODUCT_SPEC.without_cache())?;
                    Ok(docs.create(ProductCreate::new("x", 1)).await?.price)
                }
            })
            .await
            .unwrap();
        assert_eq!(out, 1);
        assert_eq!(
            taken(&l),
            [
                "start pg",
                "start redis",
                "start metrics",
                "body",
                "stop metrics",
                "stop redis",
                "stop pg"
            ]
        );
        // A scope can run again.
        rt.scope(|_| async { Ok(()) }).await.unwrap();
        assert_eq!(taken(&l).len(), 6);
    })
    .await;
}

trait WithoutCache {
    fn without_cache(&self) -> DocumentSpec<Product>;
}

impl WithoutCache for DocumentSpec<Product> {
    fn without_cache(&self) -> DocumentSpec<Product> {
        DocumentSpec::new(self.name.clone()).unwrap()
    }
}

#[tokio::test]
async fn a_startup_failure_shuts_down_the_started_steps_in_reverse_and_skips_the_body() {
    watchdog(async {
        let l = log();
        let mut bad = Recorder::new("c", &l);
        bad.fail_startup = true;
        let rt = plan_runtime(vec![
            Recorder::new("a", &l),
            Recorder::new("b", &l),
            bad,
            Recorder::new("d", &l),
        ]);
        let err = rt
            .scope(|_| async { panic!("the body must not run") as forze_core::Result<()> })
            .await
            .unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::Unavailable,
            "the step's kind is kept"
        );
        // Display shows the cause; `message` this level alone; `source` the step's error
        assert_eq!(
            err.to_string(),
            "lifecycle step `c` failed to start: cannot connect: connection refused"
        );
        assert_eq!(err.message(), "lifecycle step `c` failed to start");
        assert_eq!(
            std::error::Error::source(&err).map(|s| s.to_string()),
            Some("cannot connect: connection refused".into())
        );
        assert_eq!(
            taken(&l),
            ["start a", "start b", "start c", "stop b", "stop a"]
        );
    })
    .await;
}

#[tokio::test]
async fn a_startup_timeout_is_an_error_and_rolls_back() {
    watchdog(async {
        let l = log();
        let mut slow = Recorder::new("slow", &l);
        slow.hang_startup = true;
        let rt = plan_runtime(vec![Recorder::new("a", &l), slow]);
        let err = rt.startup().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(
            err.to_string()
                .contains("lifecycle step `slow` did not start within"),
            "{err}"
        );
        assert_eq!(taken(&l), ["start a", "start slow", "stop a"]);
        // A failed startup leaves the runtime stopped: trying again runs the steps again.
        let again = rt.startup().await.unwrap_err();
        assert_eq!(
            again.kind(),
            ErrorKind::Unavailable,
            "not `already started`: {again}"
        );
        assert_eq!(taken(&l), ["start a", "start slow", "stop a"]);
    })
    .await;
}

#[tokio::test]
async fn shutdown_runs_after_an_erroring_body() {
    watchdog(async {
        let l = log();
        let rt = plan_runtime(vec![Recorder::new("a", &l), Recorder::new("b", &l)]);
        let err = rt
            .scope(|_| async { Err::<(), _>(Error::new(ErrorKind::Validation, "bad input")) })
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "bad input");
        assert_eq!(taken(&l), ["start a", "start b", "stop b", "stop a"]);
    })
    .await;
}

#[tokio::test]
async fn shutdown_runs_after_a_panicking_body_then_the_panic_resumes() {
    watchdog(async {
        let l = log();
        let rt = plan_runtime(vec![Recorder::new("a", &l), Recorder::new("b", &l)]);
        let task = tokio::spawn(async move {
            rt.scope(|_| async { panic!("boom") as forze_core::Result<()> })
                .await
        });
        let err = task.await.unwrap_err();
        assert!(err.is_panic());
        let payload = err.into_panic();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
        assert_eq!(taken(&l), ["start a", "start b", "stop b", "stop a"]);
    })
    .await;
}

#[tokio::test]
async fn each_shutdown_step_is_bounded_and_failures_do_not_stop_the_others() {
    watchdog(async {
        let l = log();
        let mut hangs = Recorder::new("hangs", &l);
        hangs.hang_shutdown = true;
        let mut fails = Recorder::new("fails", &l);
        fails.fail_shutdown = true;
        let rt = plan_runtime(vec![Recorder::new("first", &l), hangs, fails]);
        rt.scope(|_| async { Ok(()) }).await.unwrap();
        assert_eq!(
            taken(&l),
            [
                "start first",
                "start hangs",
                "start fails",
                "stop fails",
                "stop hangs",
                "stop first"
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn manual_startup_and_shutdown_for_long_lived_services() {
    watchdog(async {
        let l = log();
        let rt = plan_runtime(vec![Recorder::new("a", &l)]);
        rt.startup().await.unwrap();
        let err = rt.startup().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("already started"));
        let ctx = rt.context();
        assert!(!ctx.in_transaction());
        rt.shutdown().await;
        rt.shutdown().await; // idempotent
        assert_eq!(taken(&l), ["start a", "stop a"]);
    })
    .await;
}

#[tokio::test]
async fn a_dropped_scope_still_shuts_down() {
    watchdog(async {
        let l = log();
        let rt = plan_runtime(vec![Recorder::new("a", &l)]);
        let scope = {
            let rt = rt.clone();
            tokio::spawn(async move {
                rt.scope(|_| async { std::future::pending::<forze_core::Result<()>>().await })
                    .await
            })
        };
        while taken_peek(&l) < 1 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        scope.abort();
        while taken_peek(&l) < 2 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(taken(&l), ["start a", "stop a"]);
    })
    .await;
}

fn taken_peek(log: &Arc<Mutex<Vec<String>>>) -> usize {
    log.lock().len()
}

#[test]
fn duplicate_step_names_are_a_config_error() {
    let l = log();
    let err = LifecyclePlan::new()
        .with_steps([
            Recorder::new("pg", &l).step(),
            Recorder::new("pg", &l).step(),
        ])
        .freeze()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert_eq!(
        err.to_string(),
        "lifecycle step `pg` is registered twice; step names must be unique"
    );
}

#[test]
fn the_registry_and_the_context_are_send_sync() {
    fn assert<T: Send + Sync>() {}
    assert::<DepsRegistry>();
    assert::<forze_core::FrozenDeps>();
    assert::<forze_core::ExecutionContext>();
    assert::<forze_core::DocumentCommand<Product>>();
    assert::<forze_core::DocumentQuery<Product>>();
    assert::<forze_core::CacheHandle>();
}

#[tokio::test]
async fn a_store_is_bound_once_per_spec_per_runtime() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use forze_core::memory::MemoryDocumentStore;
    use forze_core::store::{DocumentBackend, DocumentBinding, DocumentStore};
    use forze_core::testing::{PLAIN_PRODUCT_SPEC, TestDepsModule};

    #[derive(Debug, Default)]
    struct CountingBinds {
        store: MemoryDocumentStore,
        binds: AtomicUsize,
        fields: Mutex<Vec<Vec<&'static str>>>,
    }
    impl DocumentBackend for CountingBinds {
        fn bind(&self, binding: &DocumentBinding) -> forze_core::Result<Arc<dyn DocumentStore>> {
            self.binds.fetch_add(1, Ordering::SeqCst);
            self.fields
                .lock()
                .push(binding.fields.iter().map(|f| f.name).collect());
            self.store.bind(binding)
        }
    }

    watchdog(async {
        let backend = Arc::new(CountingBinds::default());
        let module = TestDepsModule::new("counting")
            .document("products", backend.clone())
            .document("plain_products", backend.clone())
            .cache("products", Arc::new(forze_core::memory::MemoryCache::new()));
        let rt = runtime(vec![module.boxed()]);
        for ctx in [rt.context(), rt.context()] {
            for _ in 0..3 {
                ctx.document().query(&PRODUCT_SPEC).unwrap();
                ctx.document().command(&PRODUCT_SPEC).unwrap();
                ctx.cache(&PRODUCT_SPEC).unwrap();
                ctx.document().query(&PLAIN_PRODUCT_SPEC).unwrap();
            }
        }
        assert_eq!(backend.binds.load(Ordering::SeqCst), 2, "once per spec");
        assert_eq!(backend.fields.lock()[0], ["name", "price", "note"]);
        // Another runtime binds its own stores.
        let other = runtime(vec![
            TestDepsModule::new("counting")
                .document("plain_products", backend.clone())
                .boxed(),
        ]);
        other
            .context()
            .document()
            .query(&PLAIN_PRODUCT_SPEC)
            .unwrap();
        assert_eq!(backend.binds.load(Ordering::SeqCst), 3);
    })
    .await;
}
