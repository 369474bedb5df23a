//! The `"<int><ms|s|m|h|d>"` duration syntax shared by `#[document_spec]` and config files.

use std::time::Duration;

use crate::error::{Error, Result};

/// The accepted duration form, quoted in every error message about durations.
pub const DURATION_FORM: &str =
    "\"<int><ms|s|m|h|d>\", for example \"300ms\", \"2s\", \"5m\", \"1h\", \"7d\"";

/// Parse a duration written as `"<int><ms|s|m|h|d>"`.
///
/// The same grammar `#[document_spec]` accepts at compile time. Zero is rejected: every forze
/// duration is a lifetime, and a zero lifetime is always a mistake.
///
/// # Errors
///
/// An [`ErrorKind::Config`](crate::ErrorKind::Config) error naming the bad text and the accepted
/// form.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use forze_core::spec::parse_duration;
///
/// assert_eq!(parse_duration("2s")?, Duration::from_secs(2));
/// assert_eq!(parse_duration("300ms")?, Duration::from_millis(300));
/// assert!(parse_duration("2 s").is_err());
/// assert!(parse_duration("0s").is_err());
/// # Ok::<(), forze_core::Error>(())
/// ```
pub fn parse_duration(text: &str) -> Result<Duration> {
    let bad = || {
        Error::config(format!(
            "invalid duration `{text}`: expected {DURATION_FORM}"
        ))
    };
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
        return Err(Error::config(format!(
            "invalid duration `{text}`: must be greater than zero"
        )));
    }
    Ok(Duration::from_millis(millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse_duration("1ms").unwrap(), Duration::from_millis(1));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86_400));
    }

    #[test]
    fn rejects_malformed_and_zero() {
        for bad in [
            "",
            "s",
            "1",
            "1.5s",
            "-1s",
            "1S",
            "1 s",
            "1sec",
            "99999999999999999999d",
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert!(
                err.to_string().contains("<int><ms|s|m|h|d>"),
                "{bad}: {err}"
            );
        }
        assert!(
            parse_duration("0ms")
                .unwrap_err()
                .to_string()
                .contains("greater than zero")
        );
    }
}

/// The macro's copy of the grammar (a proc-macro crate cannot depend on forze-core), compiled
/// here so the test below can hold both to the same answers.
#[cfg(test)]
#[path = "../../../forze-macros/src/duration.rs"]
#[allow(dead_code, unreachable_pub)]
mod macro_grammar;

#[cfg(test)]
mod agreement {
    use super::*;

    /// Every input, accepted or not, gets the same answer and the same message from
    /// `parse_duration` and from the `#[document_spec]` macro's parser.
    #[test]
    fn the_macro_and_core_agree_on_every_duration() {
        assert_eq!(DURATION_FORM, macro_grammar::DURATION_FORM);
        let mut inputs: Vec<String> = [
            "",
            "0",
            "0s",
            "00ms",
            "1",
            "1ms",
            "2s",
            "5m",
            "1h",
            "7d",
            "1w",
            "1S",
            "1 s",
            " 1s",
            "1s ",
            "-1s",
            "+1s",
            "1.5s",
            "1e3ms",
            "s",
            "ms",
            "1ms1",
            "1sms",
            "18446744073709551615ms",
            "18446744073709551616ms",
            "213503982334601d",
            "213503982334602d",
            "٣s",
            "1ｓ",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        // Every short string over the alphabet the grammar cares about.
        let alphabet = ['0', '1', '9', 'm', 's', 'h', 'd', ' ', '.'];
        let mut frontier = vec![String::new()];
        for _ in 0..4 {
            let mut next = Vec::new();
            for s in &frontier {
                for c in alphabet {
                    next.push(format!("{s}{c}"));
                }
            }
            inputs.extend(next.iter().cloned());
            frontier = next;
        }
        for input in &inputs {
            let core = parse_duration(input);
            let macro_ = macro_grammar::parse_millis(input);
            match (&core, &macro_) {
                (Ok(d), Ok(ms)) => assert_eq!(d.as_millis(), u128::from(*ms), "`{input}`"),
                (Err(e), Err(m)) => assert_eq!(e.message(), m, "`{input}`"),
                _ => panic!("`{input}`: core says {core:?}, the macro says {macro_:?}"),
            }
        }
    }
}
