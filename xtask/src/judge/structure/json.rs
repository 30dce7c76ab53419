//! Reading apr's JSON leniently where it is a moving target: numbers that may come
//! as JSON numbers or as strings, fields at a path.

use serde_json::Value;

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    Some(cur)
}

/// A non-negative integer at `path`, written as a number or as a string.
pub fn num(v: &Value, path: &[&str]) -> Option<u64> {
    let cur = at(v, path)?;
    cur.as_u64()
        .or_else(|| cur.as_str().and_then(|s| s.trim().parse().ok()))
        .or_else(|| cur.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64))
}

/// A real number at `path`, written as a number or as a string.
pub fn real(v: &Value, path: &[&str]) -> Option<f64> {
    let cur = at(v, path)?;
    cur.as_f64().or_else(|| cur.as_str().and_then(|s| s.trim().parse().ok()))
}

pub fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path)?.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_numbers_or_strings() {
        let v = serde_json::json!({"a": {"n": 3, "s": "30", "f": 2.0, "r": "1e5", "neg": -1, "t": "x"}});
        assert_eq!(num(&v, &["a", "n"]), Some(3));
        assert_eq!(num(&v, &["a", "s"]), Some(30));
        assert_eq!(num(&v, &["a", "f"]), Some(2));
        assert_eq!(num(&v, &["a", "neg"]), None);
        assert_eq!(num(&v, &["a", "missing"]), None);
        assert_eq!(real(&v, &["a", "r"]), Some(100000.0));
        assert_eq!(text(&v, &["a", "t"]), Some("x"));
        assert_eq!(text(&v, &["a", "n"]), None);
    }
}
