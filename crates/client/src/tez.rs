//! Tez amounts: parsing (`1.5`, `1,000`, at most 6 decimals) and Octez's `Tez.pp` display.

/// A malformed tez amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid tez amount {0:?}: expected a non-negative decimal with at most 6 digits after the \
     point (e.g. 1.5 or 0.000001)"
)]
pub struct AmountError(pub String);

/// Parses a tez amount into mutez.
pub fn parse_tez(s: &str) -> Result<u64, AmountError> {
    let bad = || AmountError(s.to_owned());
    let t = s.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    // Thousands separators are accepted in the integer part only when well placed.
    let int = if int.contains(',') {
        let groups: Vec<&str> = int.split(',').collect();
        let first_ok = (1..=3).contains(&groups[0].len());
        if !first_ok || groups[1..].iter().any(|g| g.len() != 3) {
            return Err(bad());
        }
        groups.concat()
    } else {
        int.to_owned()
    };
    if int.is_empty() && frac.is_empty() {
        return Err(bad());
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if frac.len() > 6 {
        return Err(bad());
    }
    let whole: u64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let mut frac_mutez: u64 = 0;
    for (i, d) in frac.bytes().enumerate() {
        frac_mutez += u64::from(d - b'0') * 10u64.pow(5 - i as u32);
    }
    whole
        .checked_mul(1_000_000)
        .and_then(|m| m.checked_add(frac_mutez))
        .ok_or_else(bad)
}

/// Formats mutez as tez without trailing zeros (`3999999.998`, `1.5`, `10`).
pub fn format_tez(mutez: u64) -> String {
    let whole = mutez / 1_000_000;
    let frac = mutez % 1_000_000;
    if frac == 0 {
        whole.to_string()
    } else {
        let f = format!("{frac:06}");
        format!("{whole}.{}", f.trim_end_matches('0'))
    }
}

/// Formats a signed change as Octez receipts do (`+ꜩ1.5`, `-ꜩ0.000382`).
pub fn format_change(change: i128) -> String {
    let sign = if change < 0 { '-' } else { '+' };
    let abs = u64::try_from(change.unsigned_abs()).unwrap_or(u64::MAX);
    format!("{sign}ꜩ{}", format_tez(abs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_format() {
        assert_eq!(parse_tez("1.5"), Ok(1_500_000));
        assert_eq!(parse_tez("0.000001"), Ok(1));
        assert_eq!(parse_tez("1,000"), Ok(1_000_000_000));
        assert_eq!(parse_tez(".5"), Ok(500_000));
        assert!(parse_tez("1.0000001").is_err());
        assert!(parse_tez("-1").is_err());
        assert!(parse_tez("abc").is_err());
        assert!(parse_tez("").is_err());
        assert!(parse_tez("1,00").is_err());
        assert_eq!(format_tez(3_999_999_998_000), "3999999.998");
        assert_eq!(format_tez(1_500_000), "1.5");
        assert_eq!(format_tez(0), "0");
        assert_eq!(format_change(-382), "-ꜩ0.000382");
    }
}
