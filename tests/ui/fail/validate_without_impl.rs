//! `#[forze(validate)]` needs `Validate` for the create and the update DTO.

use forze_core::{Document, Validate, ValidationErrors};

#[derive(Document)]
#[forze(validate)]
pub struct Product {
    pub name: String,
}

impl Validate for ProductCreate {
    fn validate(&self, errors: &mut ValidationErrors) {
        errors.check(!self.name.is_empty(), "name", "must not be empty");
    }
}

fn main() {}
