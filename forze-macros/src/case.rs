//! Name helpers: snake_case of a type name, and the logical-name rule.

/// The longest accepted logical name, in bytes (a Postgres identifier's limit).
pub(crate) const MAX_NAME_LEN: usize = 63;

/// `ProductLine` → `product_line`, `HTTPServer` → `http_server`, `Product2` → `product2`.
///
/// Only ASCII letters change case, so the result of a valid identifier is a valid identifier.
pub(crate) fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_is_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let boundary = prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_is_lower);
            if boundary && prev != '_' {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// `ProductLine` → `PRODUCT_LINE`.
pub(crate) fn screaming_snake_case(name: &str) -> String {
    snake_case(name).to_ascii_uppercase()
}

/// Check a logical name: `[a-z][a-z0-9_]*`, at most 63 bytes. The error is the problem, without
/// the key (`"expected ..."`), so callers can word the message for their key.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let mut bytes = name.bytes();
    let ok_first = bytes.next().is_some_and(|b| b.is_ascii_lowercase());
    let ok_rest = bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !(ok_first && ok_rest) {
        return Err("expected `[a-z][a-z0-9_]*`, for example \"products\"".to_owned());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "{} bytes, at most {MAX_NAME_LEN} are accepted",
            name.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_cases_type_names() {
        assert_eq!(snake_case("Product"), "product");
        assert_eq!(snake_case("ProductLine"), "product_line");
        assert_eq!(snake_case("HTTPServer"), "http_server");
        assert_eq!(snake_case("Product2"), "product2");
        assert_eq!(snake_case("Product2Line"), "product2_line");
        assert_eq!(snake_case("ABC"), "abc");
        assert_eq!(snake_case("Snake_Case"), "snake_case");
        assert_eq!(snake_case("lower"), "lower");
        assert_eq!(screaming_snake_case("ProductLine"), "PRODUCT_LINE");
    }

    #[test]
    fn names_follow_the_runtime_rule() {
        assert!(check_name("products_2").is_ok());
        for bad in ["", "Products", "2x", "a-b", "a b", "é", "_a"] {
            let err = check_name(bad).unwrap_err();
            assert!(err.contains("[a-z][a-z0-9_]*"), "{bad}: {err}");
        }
        assert!(check_name(&"a".repeat(63)).is_ok());
        assert_eq!(
            check_name(&"a".repeat(64)).unwrap_err(),
            "64 bytes, at most 63 are accepted"
        );
    }
}
