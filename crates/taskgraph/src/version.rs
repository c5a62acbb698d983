//! BitBake's version comparison (`bb.utils.vercmp`).

use std::cmp::Ordering;

/// One piece of a version: `(kind, value)` where kind orders `~` (-1) before numbers (0)
/// before letters (1) before other characters (2).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Piece<'a> {
    Tilde,
    Number(u128),
    Alpha(&'a str),
    Other(char),
}

impl Piece<'_> {
    fn kind(&self) -> i8 {
        match self {
            Piece::Tilde => -1,
            Piece::Number(_) => 0,
            Piece::Alpha(_) => 1,
            Piece::Other(_) => 2,
        }
    }
}

fn explode(version: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = version;
    while let Some(c) = rest.chars().next() {
        if c.is_ascii_digit() {
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            // Longer than u128 cannot happen in real versions; saturate rather than fail.
            out.push(Piece::Number(rest[..end].parse().unwrap_or(u128::MAX)));
            rest = &rest[end..];
        } else if c.is_ascii_alphabetic() {
            let end = rest
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(rest.len());
            out.push(Piece::Alpha(&rest[..end]));
            rest = &rest[end..];
        } else {
            out.push(if c == '~' {
                Piece::Tilde
            } else {
                Piece::Other(c)
            });
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// `vercmp_part`: compares two versions piece by piece; a missing piece counts as `(0,
/// None)`, which is below any number and above a tilde.
fn compare_part(a: &str, b: &str) -> Ordering {
    let (a, b) = (explode(a), explode(b));
    for i in 0..a.len().max(b.len()) {
        let ordering = match (a.get(i), b.get(i)) {
            (Some(x), Some(y)) => x.kind().cmp(&y.kind()).then_with(|| x.cmp(y)),
            (Some(x), None) => x.kind().cmp(&0).then(Ordering::Greater),
            (None, Some(y)) => 0.cmp(&y.kind()).then(Ordering::Less),
            (None, None) => Ordering::Equal,
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    Ordering::Equal
}

/// `bb.utils.vercmp` of two `(PE, PV, PR)` triples.
///
/// ```
/// use std::cmp::Ordering;
/// use taskgraph::vercmp;
///
/// assert_eq!(vercmp(("", "1.10", "r0"), ("", "1.9", "r0")), Ordering::Greater);
/// assert_eq!(vercmp(("1", "1.0", "r0"), ("", "2.0", "r0")), Ordering::Greater);
/// assert_eq!(vercmp(("", "1.0~rc1", "r0"), ("", "1.0", "r0")), Ordering::Less);
/// ```
pub fn vercmp(a: (&str, &str, &str), b: (&str, &str, &str)) -> Ordering {
    let epoch = |e: &str| e.trim().parse::<i64>().unwrap_or(0);
    epoch(a.0)
        .cmp(&epoch(b.0))
        .then_with(|| compare_part(a.1, b.1))
        .then_with(|| compare_part(a.2, b.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_compare_as_in_bitbake() {
        assert_eq!(compare_part("1.0", "1.0"), Ordering::Equal);
        assert_eq!(compare_part("1.0a", "1.0"), Ordering::Greater);
        assert_eq!(compare_part("1.0", "1.0.1"), Ordering::Less);
        assert_eq!(compare_part("1.0+git", "1.0"), Ordering::Greater);
        assert_eq!(compare_part("r10", "r9"), Ordering::Greater);
        assert_eq!(compare_part("1.0~", "1.0"), Ordering::Less);
        assert_eq!(compare_part("a", "1"), Ordering::Greater);
    }
}
