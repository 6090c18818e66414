//! Environment: the `TWS_*` variables the binary reads, and the refusal of every other one. A misspelt
//! variable (`TWS_NODEURL`) stops the start naming the nearest known one, as an unknown key in the TOML
//! file does, instead of leaving the service on its defaults.

use std::collections::BTreeMap;

use super::{
    error::{ConfigError, Reason, ValueSource},
    schema::{self, ALIASES},
};

/// The prefix of the plugin's variables.
pub const PREFIX: &str = "TWS_";
/// Variables the binary reads that are not configuration keys: the file to read (`TWS_CONFIG`) and the
/// log filter (`TWS_LOG`).
pub const OTHER_VARIABLES: &[&str] = &["TWS_CONFIG", "TWS_LOG"];
/// Not configuration, so it never counts as a setting (`Config::configured_by`).
pub const LOG_VARIABLE: &str = "TWS_LOG";

/// The variable of a key (or an alias): `TWS_` + its upper case.
pub fn variable(key: &str) -> String {
    format!("{PREFIX}{}", key.to_uppercase())
}

/// Every variable the binary reads.
fn known() -> impl Iterator<Item = String> {
    schema::keys()
        .chain(ALIASES.iter().map(|(alias, _)| *alias))
        .map(variable)
        .chain(OTHER_VARIABLES.iter().map(|v| v.to_string()))
}

/// The key (or alias) a variable sets: `TWS_RESULT_TTL` sets `result_ttl`; `None` for a variable that
/// is not configuration (`TWS_CONFIG`, `TWS_LOG`, other programs').
pub fn key(name: &str) -> Option<String> {
    let key = name.strip_prefix(PREFIX)?;
    (!OTHER_VARIABLES.contains(&name) && key.bytes().all(|b| !b.is_ascii_lowercase())).then(|| key.to_lowercase())
}

/// Refuses the first `TWS_*` variable in `env` the binary does not read (other names are not ours).
pub fn check(env: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    let known: Vec<String> = known().collect();
    match env
        .keys()
        .filter(|name| name.starts_with(PREFIX))
        .find(|name| !known.contains(name))
    {
        None => Ok(()),
        Some(name) => Err(ConfigError {
            key: name[PREFIX.len()..].to_lowercase(),
            source_of_value: ValueSource::Env { variable: name.clone() },
            reason: Reason::Unknown {
                nearest: nearest(name, &known),
            },
        }),
    }
}

/// The known variable closest to `name` in edits, if close enough to be what was meant: at most a
/// third of its length apart (a dropped underscore or a swapped letter, not another word).
pub fn nearest(name: &str, known: &[String]) -> Option<String> {
    let (distance, best) = known
        .iter()
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .min()?;
    (distance <= (name.len() / 3).max(1)).then(|| best.clone())
}

/// Levenshtein distance over bytes (variable names are ASCII; anything else only grows the distance).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, &x) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, &y) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(x != y);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(names: &[&str]) -> BTreeMap<String, String> {
        names.iter().map(|n| (n.to_string(), "x".to_string())).collect()
    }

    #[test]
    fn every_key_alias_and_documented_variable_is_known_and_nothing_else() {
        check(&env(&[
            "TWS_NODE_URL",
            "TWS_CACHE",
            "TWS_CONFIG",
            "TWS_LOG",
            "PATH",
            "TWSX",
        ]))
        .unwrap();
        for key in schema::keys() {
            check(&env(&[&variable(key)])).unwrap();
        }
        let nearest_of = |name: &str| match check(&env(&[name])) {
            Err(ConfigError {
                reason: Reason::Unknown { nearest },
                source_of_value: ValueSource::Env { variable },
                ..
            }) if variable == name => nearest,
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(nearest_of("TWS_NODEURL").as_deref(), Some("TWS_NODE_URL"));
        assert_eq!(nearest_of("TWS_RESULTS_TTL").as_deref(), Some("TWS_RESULT_TTL"));
        assert_eq!(
            nearest_of("TWS_SOMETHING_ELSE_ENTIRELY"),
            None,
            "no suggestion far from every name"
        );
        // Case matters: the variables are upper case.
        assert!(check(&env(&["TWS_node_url"])).is_err());
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("TWS_NODEURL", "TWS_NODE_URL"), 1);
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
