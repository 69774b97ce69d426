//! Expectations and variables of the conformance vectors (see tests/conformance/README.md).
//!
//! - `"$name"` in an expectation binds the actual value the first time, compares after;
//!   `"$name+N"` / `"$name-N"` compare with arithmetic; `"$name.field"` reads a field of a
//!   bound object.
//! - `{"$gt": X}`, `{"$ge": X}`, `{"$lt": X}`, `{"$le": X}`, `{"$ne": X}`, `{"$any": true}`.
//! - Objects match partially (only the fields listed); arrays match element by element.

use std::collections::HashMap;

use serde_json::Value as Json;

#[derive(Debug, Default)]
pub struct Vars {
    values: HashMap<String, Json>,
}

impl Vars {
    pub fn bind(&mut self, name: &str, value: Json) {
        self.values.insert(name.to_owned(), value);
    }

    /// Resolves `$name`, `$name.field`, `$name+N`, `$name-N`; `None` if unbound.
    pub fn lookup(&self, reference: &str) -> Result<Option<Json>, String> {
        let body = reference.strip_prefix('$').ok_or_else(|| format!("{reference:?} is not a variable"))?;
        let (path, offset) = match body.find(['+', '-']) {
            Some(at) => {
                let offset: i64 = body[at..].parse().map_err(|_| format!("bad offset in {reference:?}"))?;
                (&body[..at], offset)
            }
            None => (body, 0),
        };
        let mut parts = path.split('.');
        let name = parts.next().unwrap_or_default();
        let Some(mut value) = self.values.get(name).cloned() else {
            return Ok(None);
        };
        for field in parts {
            value = value.get(field).cloned().ok_or_else(|| format!("{reference:?}: no field {field:?} in {value}"))?;
        }
        if offset != 0 {
            let number = value.as_i64().ok_or_else(|| format!("{reference:?}: {value} is not a number"))?;
            value = Json::from(number + offset);
        }
        Ok(Some(value))
    }

    /// Replaces every variable reference in an argument with its value.
    pub fn resolve(&self, argument: &Json) -> Result<Json, String> {
        Ok(match argument {
            Json::String(text) if text.starts_with('$') => {
                self.lookup(text)?.ok_or_else(|| format!("variable {text:?} is not bound"))?
            }
            Json::Array(items) => Json::Array(items.iter().map(|item| self.resolve(item)).collect::<Result<_, _>>()?),
            Json::Object(fields) => Json::Object(
                fields
                    .iter()
                    .map(|(name, value)| Ok((name.clone(), self.resolve(value)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => other.clone(),
        })
    }

    /// Checks `actual` against `expected`, binding variables on the way.
    pub fn check(&mut self, expected: &Json, actual: &Json, path: &str) -> Result<(), String> {
        let fail = |why: String| Err(format!("at {path}: {why}"));
        match expected {
            Json::String(text) if text.starts_with('$') => {
                let is_plain = !text[1..].contains(['+', '-', '.']);
                match self.lookup(text)? {
                    Some(bound) if numbers_equal(&bound, actual) => Ok(()),
                    Some(bound) => fail(format!("expected {text} = {bound}, got {actual}")),
                    None if is_plain => {
                        self.bind(&text[1..], actual.clone());
                        Ok(())
                    }
                    None => fail(format!("{text} refers to an unbound variable")),
                }
            }
            Json::Object(fields) if fields.keys().any(|key| key.starts_with('$')) => {
                for (operator, operand) in fields {
                    let operand = self.resolve(operand)?;
                    let ok = match operator.as_str() {
                        "$any" => !actual.is_null(),
                        "$ne" => !numbers_equal(&operand, actual),
                        "$gt" | "$ge" | "$lt" | "$le" => {
                            let (Some(a), Some(b)) = (actual.as_f64(), operand.as_f64()) else {
                                return fail(format!("{operator} needs numbers, got {actual} and {operand}"));
                            };
                            match operator.as_str() {
                                "$gt" => a > b,
                                "$ge" => a >= b,
                                "$lt" => a < b,
                                _ => a <= b,
                            }
                        }
                        other => return fail(format!("unknown matcher {other}")),
                    };
                    if !ok {
                        return fail(format!("expected {operator} {operand}, got {actual}"));
                    }
                }
                Ok(())
            }
            Json::Object(fields) => {
                let Some(actual_fields) = actual.as_object() else {
                    return fail(format!("expected an object {expected}, got {actual}"));
                };
                for (name, value) in fields {
                    let field = actual_fields.get(name).unwrap_or(&Json::Null);
                    self.check(value, field, &format!("{path}.{name}"))?;
                }
                Ok(())
            }
            Json::Array(items) => {
                let Some(actual_items) = actual.as_array() else {
                    return fail(format!("expected an array {expected}, got {actual}"));
                };
                if items.len() != actual_items.len() {
                    return fail(format!(
                        "expected {} items {expected}, got {} {actual}",
                        items.len(),
                        actual_items.len()
                    ));
                }
                for (index, (item, actual_item)) in items.iter().zip(actual_items).enumerate() {
                    self.check(item, actual_item, &format!("{path}[{index}]"))?;
                }
                Ok(())
            }
            scalar if numbers_equal(scalar, actual) => Ok(()),
            scalar => fail(format!("expected {scalar}, got {actual}")),
        }
    }
}

fn numbers_equal(a: &Json, b: &Json) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}
