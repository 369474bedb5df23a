//! The documents of the fleet: one type per configuration (specs are consts of the derive), each
//! on its own table and key namespace.

use std::time::Duration;

use forze_core::{Document, DocumentSpec};

/// No L1: Redis only.
#[derive(Document)]
#[document_spec(name = "fleet_plain", cache(name = "fleet_plain"))]
pub struct FleetPlain {
    pub name: String,
    pub price: i32,
}

/// L1 with a TTL of [`L1_TTL`]: TTL-only staleness on other replicas.
#[derive(Document)]
#[document_spec(name = "fleet_l1", cache(name = "fleet_l1", l1(ttl = "400ms")))]
pub struct FleetL1 {
    pub name: String,
    pub price: i32,
}

/// L1 with a TTL of [`PUSH_L1_TTL`], and push invalidation on the Redis cache.
#[derive(Document)]
#[document_spec(name = "fleet_push", cache(name = "fleet_push", l1(ttl = "3s")))]
pub struct FleetPush {
    pub name: String,
    pub price: i32,
}

/// The L1 ttl of [`FleetL1`].
pub const L1_TTL: Duration = Duration::from_millis(400);
/// The L1 ttl of [`FleetPush`] (the budget when the push stream is cut).
pub const PUSH_L1_TTL: Duration = Duration::from_secs(3);

/// What the replica needs of each document type.
pub trait FleetDoc: Document {
    /// The spec constant.
    fn spec() -> &'static DocumentSpec<Self>;
    /// A new document.
    fn create(price: i32) -> Self::Create;
    /// A patch setting the price.
    fn set_price(price: i32) -> Self::Update;
}

macro_rules! fleet_doc {
    ($ty:ident, $create:ident, $update:ident, $spec:ident) => {
        impl FleetDoc for $ty {
            fn spec() -> &'static DocumentSpec<Self> {
                static SPEC: DocumentSpec<$ty> = $spec;
                &SPEC
            }
            fn create(price: i32) -> $create {
                $create {
                    name: "widget".to_owned(),
                    price,
                }
            }
            fn set_price(price: i32) -> $update {
                $update {
                    price: Some(price),
                    ..$update::default()
                }
            }
        }
    };
}

fleet_doc!(
    FleetPlain,
    FleetPlainCreate,
    FleetPlainUpdate,
    FLEET_PLAIN_SPEC
);
fleet_doc!(FleetL1, FleetL1Create, FleetL1Update, FLEET_L1_SPEC);
fleet_doc!(FleetPush, FleetPushCreate, FleetPushUpdate, FLEET_PUSH_SPEC);

/// The configurations a replica (and a run) can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FleetConfig {
    /// [`FleetPlain`]: no L1.
    Plain,
    /// [`FleetL1`]: L1, TTL only.
    L1,
    /// [`FleetPush`]: L1 and push invalidation.
    Push,
}

impl FleetConfig {
    /// Every configuration.
    pub const ALL: [FleetConfig; 3] = [FleetConfig::Plain, FleetConfig::L1, FleetConfig::Push];

    /// The name on the command line (`plain`, `l1`, `push`).
    pub fn name(self) -> &'static str {
        match self {
            FleetConfig::Plain => "plain",
            FleetConfig::L1 => "l1",
            FleetConfig::Push => "push",
        }
    }

    /// Parse [`name`](Self::name).
    pub fn parse(name: &str) -> Option<Self> {
        FleetConfig::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The spec's (and table's) name.
    pub fn table(self) -> &'static str {
        match self {
            FleetConfig::Plain => "fleet_plain",
            FleetConfig::L1 => "fleet_l1",
            FleetConfig::Push => "fleet_push",
        }
    }

    /// The document's fields (for `CREATE TABLE`).
    pub fn fields(self) -> &'static [forze_core::FieldSchema] {
        match self {
            FleetConfig::Plain => FleetPlain::FIELDS,
            FleetConfig::L1 => FleetL1::FIELDS,
            FleetConfig::Push => FleetPush::FIELDS,
        }
    }

    /// The contract's budgets for this configuration.
    pub fn budgets(self) -> crate::checker::Budgets {
        use crate::checker::Budgets;
        match self {
            FleetConfig::Plain => Budgets::no_l1(),
            FleetConfig::L1 => Budgets::l1(L1_TTL),
            FleetConfig::Push => Budgets::push(PUSH_L1_TTL, Duration::from_millis(200)),
        }
    }
}
