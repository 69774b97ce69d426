//! Compare-then-else transactions: guards on keys' version, revisions, value or lease; if all
//! hold, the `then` operations run, otherwise the `else` operations; either way as one
//! revision, all or nothing. Optimistic transactions (`Store::transaction`) commit through
//! this too: each read becomes a compare, the buffered writes the `then` branch.

use crate::tagged::tagged;
use std::cmp::Ordering;
use std::collections::BTreeSet;

use super::kv::{self, BatchOp, OpResult};
use super::quota;
use super::Change;
use crate::limits;
use crate::{Error, Key, LeaseId, Result, Value};

tagged! {
    /// How a compare relates the key's field to the operand.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum CompareOp {
        /// field == operand
        Equal = 0,
        /// field != operand
        NotEqual = 1,
        /// field < operand
        Less = 2,
        /// field > operand
        Greater = 3,
    }
}

impl std::str::FromStr for CompareOp {
    type Err = Error;

    /// `"=="`, `"!="`, `"<"` or `">"`, or their names `equal`, `not_equal`, `less` and
    /// `greater`: what every surface accepts.
    fn from_str(text: &str) -> Result<CompareOp> {
        match text {
            "==" | "equal" => Ok(CompareOp::Equal),
            "!=" | "not_equal" => Ok(CompareOp::NotEqual),
            "<" | "less" => Ok(CompareOp::Less),
            ">" | "greater" => Ok(CompareOp::Greater),
            other => {
                Err(Error::invalid(format!("unknown compare operator {other:?} (use \"==\", \"!=\", \"<\" or \">\")")))
            }
        }
    }
}

impl CompareOp {
    fn holds(self, ordering: Ordering) -> bool {
        match self {
            CompareOp::Equal => ordering == Ordering::Equal,
            CompareOp::NotEqual => ordering != Ordering::Equal,
            CompareOp::Less => ordering == Ordering::Less,
            CompareOp::Greater => ordering == Ordering::Greater,
        }
    }
}

tagged! {
    /// The field of a key a compare looks at, with its operand.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum CompareTarget {
        /// The key's version (0 when it does not exist).
        Version(u64) = 0,
        /// The revision that created the key (0 when it does not exist).
        CreateRevision(u64) = 1,
        /// The revision of the key's last write (0 when it does not exist).
        ModRevision(u64) = 2,
        /// The value, compared as bytes. A missing key only satisfies `NotEqual`.
        Value(Value) = 3,
        /// The lease the key is attached to (`None`: no lease, or no key). Equal / NotEqual only.
        Lease(Option<LeaseId>) = 4,
    }
}

/// One guard of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Compare {
    pub(crate) key: Key,
    pub(crate) op: CompareOp,
    pub(crate) target: CompareTarget,
}

impl Compare {
    /// Compares the key's version.
    pub fn version(key: impl Into<Key>, op: CompareOp, version: u64) -> Compare {
        Compare { key: key.into(), op, target: CompareTarget::Version(version) }
    }

    /// Compares the key's create revision.
    pub fn create_revision(key: impl Into<Key>, op: CompareOp, revision: u64) -> Compare {
        Compare { key: key.into(), op, target: CompareTarget::CreateRevision(revision) }
    }

    /// Compares the key's mod revision.
    pub fn mod_revision(key: impl Into<Key>, op: CompareOp, revision: u64) -> Compare {
        Compare { key: key.into(), op, target: CompareTarget::ModRevision(revision) }
    }

    /// Compares the key's value.
    pub fn value(key: impl Into<Key>, op: CompareOp, value: impl Into<Value>) -> Compare {
        Compare { key: key.into(), op, target: CompareTarget::Value(value.into()) }
    }

    /// Compares the key's lease.
    pub fn lease(key: impl Into<Key>, op: CompareOp, lease: Option<LeaseId>) -> Compare {
        Compare { key: key.into(), op, target: CompareTarget::Lease(lease) }
    }

    /// The key exists.
    pub fn exists(key: impl Into<Key>) -> Compare {
        Compare::version(key, CompareOp::Greater, 0)
    }

    /// The key does not exist.
    pub fn absent(key: impl Into<Key>) -> Compare {
        Compare::version(key, CompareOp::Equal, 0)
    }

    fn check(&self) -> Result<()> {
        limits::check_key(&self.key)?;
        match &self.target {
            CompareTarget::Lease(_) if !matches!(self.op, CompareOp::Equal | CompareOp::NotEqual) => {
                Err(Error::invalid("a lease compare can only be Equal or NotEqual"))
            }
            CompareTarget::Value(value) => limits::check_value(value),
            _ => Ok(()),
        }
    }

    fn holds(&self, c: &Change<'_>) -> bool {
        let entry = c.keys.get(&self.key);
        let number =
            |field: fn(&crate::Entry) -> u64, operand: u64| self.op.holds(entry.map_or(0, field).cmp(&operand));
        match &self.target {
            CompareTarget::Version(operand) => number(|entry| entry.version, *operand),
            CompareTarget::CreateRevision(operand) => number(|entry| entry.create_revision, *operand),
            CompareTarget::ModRevision(operand) => number(|entry| entry.mod_revision, *operand),
            CompareTarget::Value(operand) => match entry {
                Some(entry) => self.op.holds(entry.value.as_bytes().cmp(operand.as_bytes())),
                None => self.op == CompareOp::NotEqual,
            },
            CompareTarget::Lease(operand) => {
                let lease = entry.and_then(crate::Entry::lease);
                (lease == *operand) == (self.op == CompareOp::Equal)
            }
        }
    }
}

/// A transaction request: guards and the two branches.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct TxnRequest {
    pub(crate) compares: Vec<Compare>,
    pub(crate) success: Vec<BatchOp>,
    pub(crate) failure: Vec<BatchOp>,
}

impl TxnRequest {
    pub(crate) fn keys(&self) -> impl Iterator<Item = &Key> {
        let compared = self.compares.iter().map(|compare| &compare.key);
        compared.chain(self.success.iter().chain(&self.failure).map(BatchOp::key))
    }

    /// Checks what does not depend on state, for both branches.
    fn check(&self) -> Result<()> {
        limits::check_batch("transaction compares", self.compares.len())?;
        for compare in &self.compares {
            compare.check()?;
        }
        for (branch, ops) in [("then", &self.success), ("else", &self.failure)] {
            limits::check_batch(&format!("transaction {branch} branch"), ops.len())?;
            let mut written = BTreeSet::new();
            for op in ops {
                limits::check_key(op.key())?;
                if let BatchOp::Put(item) = op {
                    if item.options.is_conditional() {
                        return Err(Error::invalid(
                            "if_absent / if_version are not allowed inside a transaction; use compares",
                        ));
                    }
                }
                if !matches!(op, BatchOp::Get(_)) && !written.insert(op.key()) {
                    return Err(Error::invalid(format!(
                        "key {:?} is written twice in the transaction's {branch} branch",
                        op.key()
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The outcome of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct TxnResult {
    /// Every compare held, so the `then` branch ran (otherwise the `else` branch did).
    pub succeeded: bool,
    /// One result per operation of the branch that ran.
    pub responses: Vec<OpResult>,
    /// The store revision after.
    pub revision: u64,
}

pub(crate) fn apply(c: &mut Change<'_>, request: TxnRequest) -> Result<TxnResult> {
    request.check()?;
    let succeeded = request.compares.iter().all(|compare| compare.holds(c));
    let ops = if succeeded { request.success } else { request.failure };
    // Everything that can fail is checked before anything is written: all or nothing.
    let mut growth = quota::Growth::default();
    for op in &ops {
        match op {
            BatchOp::Get(_) => {}
            BatchOp::Put(item) => {
                kv::check_put(c, item)?;
                growth.put(c, item);
            }
            BatchOp::Delete(item) => {
                kv::check_delete(c, item)?;
                growth.delete(c, item);
            }
        }
    }
    growth.check(c)?;
    let responses = ops
        .into_iter()
        .map(|op| match op {
            BatchOp::Get(key) => OpResult::Get(c.keys.get(&key).cloned()),
            BatchOp::Put(item) => OpResult::Put(kv::put_checked(c, item)),
            BatchOp::Delete(item) => OpResult::Delete(kv::delete_checked(c, item)),
        })
        .collect();
    Ok(TxnResult { succeeded, responses, revision: c.result_revision() })
}

#[cfg(test)]
mod tests {
    use super::CompareOp;

    #[test]
    fn compare_operators_parse_by_symbol_and_by_name() {
        for (text, op) in [
            ("==", CompareOp::Equal),
            ("equal", CompareOp::Equal),
            ("!=", CompareOp::NotEqual),
            ("not_equal", CompareOp::NotEqual),
            ("<", CompareOp::Less),
            ("less", CompareOp::Less),
            (">", CompareOp::Greater),
            ("greater", CompareOp::Greater),
        ] {
            assert_eq!(text.parse::<CompareOp>().unwrap(), op);
        }
        assert_eq!("=>".parse::<CompareOp>().unwrap_err().code(), crate::ErrorCode::InvalidInput);
    }
}
