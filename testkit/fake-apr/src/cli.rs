//! A forgiving argv parser in apr's style: positionals, `--flag`, `--flag value`,
//! `--flag=value` and short `-x value`. Flags apr takes with a value are listed; any
//! other unknown flag is taken as a switch, so extra flags never make the fake fail.

use anyhow::{bail, Result};

/// Flags (long and short) that consume the next argument as their value.
const VALUE_FLAGS: &[&str] = &[
    "-p",
    "--prompt",
    "-n",
    "--max-tokens",
    "--logprobs",
    "-o",
    "--output",
    "--quantize",
    "--format",
    "--dataset",
    "--text",
    "--text-file",
    "--threshold",
    "--limit",
    "--iterations",
    "--warmup",
    "--offset",
    "--tensor",
    "--backend",
    "--seed",
    "--temperature",
    "--top-k",
    "--top-p",
    "--context-length",
    "--chat-template",
    "--system",
    "--samples",
    "--batch-size",
    "--n-gpu-layers",
    "--timeout",
    "--name",
    "--arch",
    "--tokenizer",
    "--max-len",
    "--stride",
];

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Args {
    pub positionals: Vec<String>,
    /// (flag, value) in order; switches have `None`.
    pub flags: Vec<(String, Option<String>)>,
}

impl Args {
    pub fn parse(argv: &[String]) -> Result<Args> {
        let mut args = Args::default();
        let mut i = 0;
        while i < argv.len() {
            let a = &argv[i];
            i += 1;
            if a == "--" {
                args.positionals.extend(argv[i..].iter().cloned());
                break;
            }
            if a.starts_with('-') && a.len() > 1 && a.parse::<f64>().is_err() {
                if let Some((flag, value)) = a.split_once('=').filter(|_| a.starts_with("--")) {
                    args.flags.push((flag.to_string(), Some(value.to_string())));
                } else if VALUE_FLAGS.contains(&a.as_str()) {
                    let Some(value) = argv.get(i) else { bail!("flag {a} needs a value") };
                    i += 1;
                    args.flags.push((a.clone(), Some(value.clone())));
                } else {
                    args.flags.push((a.clone(), None));
                }
            } else {
                args.positionals.push(a.clone());
            }
        }
        Ok(args)
    }

    /// The last value given for any of `names`.
    pub fn value(&self, names: &[&str]) -> Option<&str> {
        self.flags.iter().rev().find(|(f, v)| names.contains(&f.as_str()) && v.is_some()).and_then(|(_, v)| v.as_deref())
    }

    pub fn has(&self, name: &str) -> bool {
        self.flags.iter().any(|(f, _)| f == name)
    }

    pub fn usize_value(&self, names: &[&str]) -> Result<Option<usize>> {
        match self.value(names) {
            None => Ok(None),
            Some(v) => match v.parse() {
                Ok(n) => Ok(Some(n)),
                Err(_) => bail!("{} expects a whole number, got {v:?}", names[0]),
            },
        }
    }

    pub fn positional(&self, i: usize, what: &str) -> Result<&str> {
        match self.positionals.get(i) {
            Some(p) => Ok(p),
            None => bail!("missing argument <{what}>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &[&str]) -> Args {
        Args::parse(&s.iter().map(|a| a.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn values_switches_and_unknown_flags() {
        let a = parse(&["int8.apr", "-p", "What is 2+2? Answer:", "-n", "32", "--json", "--offline", "--new-thing", "--x=1"]);
        assert_eq!(a.positionals, vec!["int8.apr"]);
        assert_eq!(a.value(&["-p", "--prompt"]), Some("What is 2+2? Answer:"));
        assert_eq!(a.usize_value(&["-n", "--max-tokens"]).unwrap(), Some(32));
        assert!(a.has("--json") && a.has("--new-thing"));
        assert_eq!(a.value(&["--x"]), Some("1"));
    }

    #[test]
    fn prompt_that_looks_like_a_flag_is_a_value() {
        let a = parse(&["run", "m.apr", "-p", "-1 is negative", "-n", "-3"]);
        assert_eq!(a.value(&["-p"]), Some("-1 is negative"));
        assert!(a.usize_value(&["-n"]).is_err());
        assert!(Args::parse(&["-p".to_string()]).is_err());
    }
}
