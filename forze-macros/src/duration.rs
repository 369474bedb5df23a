//! The `"<int><ms|s|m|h|d>"` duration grammar, checked at compile time.
//!
//! The same grammar as `forze_core::spec::parse_duration` (a proc-macro cannot depend on core),
//! with the same messages.

/// The accepted duration form, quoted in every error message about durations.
pub(crate) const DURATION_FORM: &str =
    "\"<int><ms|s|m|h|d>\", for example \"300ms\", \"2s\", \"5m\", \"1h\", \"7d\"";

/// Parse `text` as `"<int><ms|s|m|h|d>"` into milliseconds. Zero is rejected.
///
/// The error is the message to report at the literal.
pub(crate) fn parse_millis(text: &str) -> Result<u64, String> {
    let bad = || format!("invalid duration `{text}`: expected {DURATION_FORM}");
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(bad());
    }
    let (number, unit) = text.split_at(digits);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let millis_per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    let millis = n.checked_mul(millis_per_unit).ok_or_else(bad)?;
    if millis == 0 {
        return Err(format!(
            "invalid duration `{text}`: must be greater than zero"
        ));
    }
    Ok(millis)
}

/// Render milliseconds in the largest unit that divides them: `300000` → `"5m"`.
pub(crate) fn format_millis(millis: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ];
    for (per, unit) in UNITS {
        if millis >= per && millis.is_multiple_of(per) {
            return format!("{}{unit}", millis / per);
        }
    }
    format!("{millis}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse_millis("1ms"), Ok(1));
        assert_eq!(parse_millis("2s"), Ok(2_000));
        assert_eq!(parse_millis("5m"), Ok(300_000));
        assert_eq!(parse_millis("1h"), Ok(3_600_000));
        assert_eq!(parse_millis("7d"), Ok(604_800_000));
        assert_eq!(parse_millis("0300ms"), Ok(300));
    }

    #[test]
    fn rejects_malformed_with_the_accepted_form() {
        for bad in [
            "",
            "s",
            "1",
            "1.5s",
            "-1s",
            "1S",
            "1 s",
            " 1s",
            "1sec",
            "1m1s",
            "99999999999999999999d",
            "999999999999999999d",
        ] {
            let err = parse_millis(bad).unwrap_err();
            assert!(err.contains("\"<int><ms|s|m|h|d>\""), "{bad}: {err}");
            assert!(err.contains(&format!("`{bad}`")), "{bad}: {err}");
        }
    }

    #[test]
    fn rejects_zero() {
        for zero in ["0ms", "0s", "00m", "0d"] {
            let err = parse_millis(zero).unwrap_err();
            assert_eq!(
                err,
                format!("invalid duration `{zero}`: must be greater than zero")
            );
        }
    }

    #[test]
    fn formats_in_the_largest_unit() {
        assert_eq!(format_millis(300_000), "5m");
        assert_eq!(format_millis(2_000), "2s");
        assert_eq!(format_millis(1_500), "1500ms");
        assert_eq!(format_millis(90_000), "90s");
        assert_eq!(format_millis(86_400_000), "1d");
        assert_eq!(format_millis(7), "7ms");
    }
}
