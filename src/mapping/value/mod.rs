//! One mapped value: where it comes from (a column, a `{column}` template
//! or a constant), what type it has, and what happens when it is empty.
//! The types are here; `compile` checks everything that can be checked
//! without data, `eval` is the per-row hot path, and `time` is the
//! timestamp formats and time zones of both.

mod compile;
mod eval;
mod time;

pub(crate) use eval::parse_bool;
use time::TimeParser;

pub(in crate::mapping) struct CompileContext<'a> {
    pub file: &'a str,
    pub columns: &'a [String],
    /// When set, every column name is accepted and recorded here instead
    /// of being looked up in `columns`.
    pub referenced: Option<&'a std::cell::RefCell<Vec<String>>>,
}

/// What an empty (or null) value turns into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::mapping) enum EmptyPolicy {
    /// Strings only: an empty string stays `""`, a null stays `null`.
    Keep,
    Omit,
    Null,
    Reject,
}

#[derive(Debug)]
enum ValueSource {
    Column(usize),
    Template(Vec<Part>),
    Const(String),
}

#[derive(Debug)]
enum Part {
    Literal(String),
    Column(usize),
}

#[derive(Debug)]
enum Kind {
    String,
    Int,
    Decimal { scale: Option<u32> },
    Bool,
    Timestamp(TimeParser),
    Json,
}

#[derive(Debug)]
pub(in crate::mapping) struct CompiledValue {
    pub key: String,
    /// Where the value comes from, for row errors: "column `created`".
    origin: String,
    source: ValueSource,
    kind: Kind,
    empty: EmptyPolicy,
}

#[derive(Debug)]
pub(in crate::mapping) struct CompiledTimestamp {
    value: CompiledValue,
}

#[derive(Debug)]
pub(in crate::mapping) struct CompiledSkip {
    column: usize,
    equals: Vec<String>,
    prefix: Option<String>,
    suffix: Option<String>,
    contains: Option<String>,
    when_empty: bool,
}

pub(in crate::mapping) enum Rendered {
    Written,
    Omitted,
}

/// A value pulled out of a record, before type conversion.
enum Raw<'a> {
    Null,
    Empty,
    Text(&'a str),
}
