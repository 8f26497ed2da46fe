//! Conditions: CEL expressions, checked at load and compiled to native predicates where the
//! shape allows (a path compared with literals, joined by `&&`, `||`, `!`), interpreted by
//! `cel` otherwise. Both paths follow CEL's semantics, including its error-absorbing `&&`/`||`;
//! a condition that ends in an error (a missing attribute, a type mismatch) does not match.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock};

use cel::common::ast::{Expr, IdedExpr, LiteralValue};
use cel::{Context, Env, Program};
use regex::Regex;
use serde_json::Value;

use crate::event::{Attributes, Event, EventFields, Keys};

/// Which variables a condition may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Fit rules and disqualifiers: `lead` and `account`.
    Lead,
    /// Engagement rules: `event` only, so a match never changes when traits change later.
    Event,
    /// Account fit rules: `account`.
    Account,
}

impl Scope {
    fn variables(self) -> &'static [&'static str] {
        match self {
            Scope::Lead => &["lead", "account"],
            Scope::Event => &["event"],
            Scope::Account => &["account"],
        }
    }
}

/// The fields of `event` a condition may read.
pub const EVENT_FIELDS: [&str; 5] = ["name", "type", "properties", "context", "timestamp"];

/// Functions conditions may call (CEL's standard library and its strings extension), with the
/// number of arguments each takes, the receiver of a method call included.
const FUNCTIONS: &[(&str, usize, usize)] = &[
    ("size", 1, 1),
    ("contains", 2, 2),
    ("startsWith", 2, 2),
    ("endsWith", 2, 2),
    ("matches", 2, 2),
    ("int", 1, 1),
    ("uint", 1, 1),
    ("double", 1, 1),
    ("string", 1, 1),
    ("bytes", 1, 1),
    ("bool", 1, 1),
    ("dyn", 1, 1),
    ("type", 1, 1),
    ("timestamp", 1, 1),
    ("duration", 1, 1),
    ("getDate", 1, 2),
    ("getDayOfMonth", 1, 2),
    ("getDayOfWeek", 1, 2),
    ("getDayOfYear", 1, 2),
    ("getFullYear", 1, 2),
    ("getHours", 1, 2),
    ("getMilliseconds", 1, 2),
    ("getMinutes", 1, 2),
    ("getMonth", 1, 2),
    ("getSeconds", 1, 2),
    ("charAt", 2, 2),
    ("indexOf", 2, 3),
    ("lastIndexOf", 2, 3),
    ("join", 1, 2),
    ("lowerAscii", 1, 1),
    ("upperAscii", 1, 1),
    ("trim", 1, 1),
    ("replace", 3, 4),
    ("split", 2, 3),
    ("substring", 2, 3),
    ("reverse", 1, 1),
];

/// Calls whose result is not true/false: a condition cannot be one of these.
const NOT_BOOLEAN: &[&str] = &[
    "_+_",
    "_-_",
    "_*_",
    "_/_",
    "_%_",
    "-_",
    "size",
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "type",
    "timestamp",
    "duration",
    "charAt",
    "indexOf",
    "lastIndexOf",
    "join",
    "lowerAscii",
    "upperAscii",
    "trim",
    "replace",
    "split",
    "substring",
    "reverse",
    "getDate",
    "getDayOfMonth",
    "getDayOfWeek",
    "getDayOfYear",
    "getFullYear",
    "getHours",
    "getMilliseconds",
    "getMinutes",
    "getMonth",
    "getSeconds",
];

/// Deeper nesting than this is refused: no real condition needs it, and parsing it is costly.
const MAX_NESTING: usize = 32;

/// Where in an expression something is wrong: 1-based line and column within the expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondError {
    /// Line within the expression text (1-based).
    pub line: usize,
    /// Column within that line, in characters (1-based).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// The variables a condition is evaluated against.
#[derive(Debug, Clone, Copy, Default)]
pub struct Vars<'a> {
    /// The lead's attributes.
    pub lead: Option<&'a Attributes>,
    /// The lead's account's attributes (absent: an empty map).
    pub account: Option<&'a Attributes>,
    /// The event being scored.
    pub event: Option<&'a Event>,
}

/// A compiled condition.
#[derive(Clone)]
pub struct Condition {
    source: String,
    kind: Kind,
    /// What of an event it reads.
    reads: EventFields,
}

#[derive(Clone)]
enum Kind {
    Native(Pred),
    Interpreted(Arc<Program>),
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("source", &self.source)
            .field("native", &self.is_native())
            .finish()
    }
}

static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| {
    let mut env = Env::stdlib();
    env.add_extension(cel::extensions::strings)
        .expect("the strings extension declares no conflicting overloads");
    Arc::new(env)
});

impl Condition {
    /// Parses and checks `source` for `scope`: syntax, variables, event fields, functions and
    /// regular expressions are all checked here, so evaluation cannot fail later.
    pub fn compile(source: &str, scope: Scope) -> Result<Condition, CondError> {
        check_nesting(source)?;
        let program = ENV.compile(source).map_err(|errors| {
            let first = errors.errors.first();
            let line = first.map_or(1, |e| e.pos.0.max(1) as usize);
            let byte_column = first.map_or(1, |e| e.pos.1.max(1) as usize);
            let text = source.lines().nth(line - 1).unwrap_or_default();
            let column = text
                .get(..byte_column - 1)
                .map_or(byte_column, |t| t.chars().count() + 1);
            CondError {
                line,
                column,
                message: first.map_or_else(
                    || "invalid expression".to_string(),
                    |e| e.msg.trim_start_matches("Syntax error: ").to_string(),
                ),
            }
        })?;
        let at = |id: u64, message: String| {
            let (line, column) = location(source, program.source_info().offset_for(id));
            CondError {
                line,
                column,
                message,
            }
        };
        let mut check = Check::default();
        check.walk(program.expression(), &mut Vec::new());
        for (id, name) in check.idents {
            if !scope.variables().contains(&name.as_str()) {
                let allowed = scope.variables().join("`, `");
                let hint = if scope == Scope::Event && (name == "lead" || name == "account") {
                    "; engagement conditions see only the event: put conditions on traits in a fit rule"
                } else {
                    ""
                };
                return Err(at(
                    id,
                    format!("unknown variable `{name}` (this condition may use `{allowed}`{hint})"),
                ));
            }
        }
        for (id, field) in check.event_fields {
            if !EVENT_FIELDS.contains(&field.as_str()) {
                return Err(at(
                    id,
                    format!(
                        "unknown event field `event.{field}` (an event has {})",
                        EVENT_FIELDS.map(|f| format!("`{f}`")).join(", ")
                    ),
                ));
            }
        }
        for (id, function, arity) in check.functions {
            match FUNCTIONS.iter().find(|(name, ..)| *name == function) {
                None => return Err(at(id, format!("unknown function `{function}`"))),
                Some((_, min, max)) if arity < *min || arity > *max => {
                    return Err(at(
                        id,
                        format!("`{function}` called with the wrong number of arguments"),
                    ));
                }
                Some(_) => {}
            }
        }
        if let Some(what) = not_boolean(program.expression()) {
            return Err(at(
                program.expression().id,
                format!("a condition must be true or false, and this is {what}"),
            ));
        }
        for (id, pattern) in check.patterns {
            if let Err(e) = Regex::new(&pattern) {
                let message = e.to_string().lines().last().unwrap_or_default().to_string();
                return Err(at(id, format!("invalid regular expression: {message}")));
            }
        }
        let mut reads = EventFields::default();
        event_reads(program.expression(), &mut reads);
        let kind = match Pred::compile(program.expression()) {
            Some(pred) => Kind::Native(pred),
            None => Kind::Interpreted(Arc::new(program)),
        };
        Ok(Condition {
            source: source.to_string(),
            kind,
            reads,
        })
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The keys of the event's `properties` and `context` the condition can read: a key read
    /// by name (`event.properties.path`, `event.context['campaign']`) is listed; any other use
    /// of the map (`size(event.properties)`, a computed key, `event` itself) reads it all.
    pub fn event_fields(&self) -> &EventFields {
        &self.reads
    }

    /// Whether the condition runs as a native predicate rather than in the interpreter.
    pub fn is_native(&self) -> bool {
        matches!(self.kind, Kind::Native(_))
    }

    /// Whether the condition holds for `vars`; errors (missing attributes, type mismatches)
    /// mean it does not.
    pub fn matches(&self, vars: Vars<'_>) -> bool {
        match &self.kind {
            Kind::Native(pred) => pred.eval(&vars) == Tri::True,
            Kind::Interpreted(program) => interpret(program, vars),
        }
    }

    /// The same condition, run by the CEL interpreter whatever its shape: the reference the
    /// native predicates are tested and benchmarked against.
    pub fn interpreted(&self) -> Condition {
        let program = ENV
            .compile(&self.source)
            .expect("the source compiled before");
        Condition {
            source: self.source.clone(),
            kind: Kind::Interpreted(Arc::new(program)),
            reads: self.reads.clone(),
        }
    }
}

fn interpret(program: &Program, vars: Vars<'_>) -> bool {
    let mut context = Context::with_env(Arc::clone(&ENV));
    if let Some(lead) = vars.lead {
        context.add_variable_from_value("lead", map_to_cel(lead));
    }
    let empty = Attributes::new();
    context.add_variable_from_value("account", map_to_cel(vars.account.unwrap_or(&empty)));
    if let Some(event) = vars.event {
        context.add_variable_from_value("event", event_to_cel(event));
    }
    matches!(program.execute(&context), Ok(cel::Value::Bool(true)))
}

/// The event as CEL sees it: `name`, `type`, `properties`, `context`, `timestamp`.
fn event_to_cel(event: &Event) -> cel::Value {
    let mut map: HashMap<cel::objects::Key, cel::Value> = HashMap::with_capacity(5);
    map.insert("name".into(), event.name.clone().into());
    map.insert("type".into(), event.kind.as_str().into());
    map.insert("properties".into(), map_to_cel(&event.properties));
    map.insert("context".into(), map_to_cel(&event.context));
    let at = event.timestamp.to_datetime().fixed_offset();
    map.insert("timestamp".into(), cel::Value::Timestamp(at));
    cel::Value::Map(cel::objects::Map { map: Arc::new(map) })
}

fn map_to_cel(map: &Attributes) -> cel::Value {
    let map = map
        .iter()
        .map(|(k, v)| (cel::objects::Key::from(k.as_str()), json_to_cel(v)))
        .collect::<HashMap<_, _>>();
    cel::Value::Map(cel::objects::Map { map: Arc::new(map) })
}

fn json_to_cel(value: &Value) -> cel::Value {
    match value {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => cel::Value::Int(i),
            (None, Some(u)) => cel::Value::UInt(u),
            _ => cel::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => s.as_str().into(),
        Value::Array(items) => cel::Value::List(Arc::new(items.iter().map(json_to_cel).collect())),
        Value::Object(map) => map_to_cel(map),
    }
}

/// Adds what of the event `e` reads to `reads` (see [`Condition::event_fields`]). Erring on the
/// side of reading more is safe: a comprehension's variable named `event`, say, only makes
/// more keys read.
fn event_reads(e: &IdedExpr, reads: &mut EventFields) {
    fn is_event(e: &IdedExpr) -> bool {
        matches!(&e.expr, Expr::Ident(name) if name == "event")
    }
    /// `operand.key` or `operand['key']`.
    fn field_of(e: &IdedExpr) -> Option<(&IdedExpr, &str)> {
        match &e.expr {
            Expr::Select(select) => Some((&select.operand, select.field.as_str())),
            Expr::Call(call) if call.func_name == "_[_]" && call.target.is_none() => {
                match call.args.as_slice() {
                    [
                        operand,
                        IdedExpr {
                            expr: Expr::Literal(LiteralValue::String(key)),
                            ..
                        },
                    ] => Some((operand, key.inner())),
                    _ => None,
                }
            }
            _ => None,
        }
    }
    /// `event.properties` or `event.context`: which map of `reads` it is.
    fn event_map<'r>(e: &IdedExpr, reads: &'r mut EventFields) -> Option<&'r mut Keys> {
        match field_of(e)? {
            (operand, "properties") if is_event(operand) => Some(&mut reads.properties),
            (operand, "context") if is_event(operand) => Some(&mut reads.context),
            _ => None,
        }
    }
    if let Some((operand, key)) = field_of(e) {
        if let Some(keys) = event_map(operand, reads) {
            keys.insert(key);
            return;
        }
        if is_event(operand) {
            // `event.name`, `event.type`, `event.timestamp` are always read.
            if let Some(keys) = event_map(e, reads) {
                *keys = Keys::All;
            }
            return;
        }
    }
    let mut walk = |e: &IdedExpr| event_reads(e, reads);
    match &e.expr {
        Expr::Ident(_) if is_event(e) => *reads = EventFields::all(),
        Expr::Select(select) => walk(&select.operand),
        Expr::Call(call) => {
            call.target.iter().for_each(|t| walk(t));
            call.args.iter().for_each(walk);
        }
        Expr::Comprehension(c) => {
            for e in [
                &c.iter_range,
                &c.accu_init,
                &c.loop_cond,
                &c.loop_step,
                &c.result,
            ] {
                walk(e);
            }
        }
        Expr::List(list) => list.elements.iter().for_each(walk),
        Expr::Map(map) => {
            for entry in &map.entries {
                if let cel::common::ast::EntryExpr::MapEntry(entry) = &entry.expr {
                    walk(&entry.key);
                    walk(&entry.value);
                }
            }
        }
        Expr::Struct(s) => {
            for entry in &s.entries {
                if let cel::common::ast::EntryExpr::StructField(field) = &entry.expr {
                    walk(&field.value);
                }
            }
        }
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

/// 1-based line and column of an AST node's offset in `source`.
fn location(source: &str, offset: Option<(u32, u32)>) -> (usize, usize) {
    let start = offset.map_or(0, |(start, _)| start as usize);
    // Offsets are in bytes; columns are in characters.
    let before = source.get(..start).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// What an expression refers to, for load-time checks.
#[derive(Default)]
struct Check {
    idents: Vec<(u64, String)>,
    event_fields: Vec<(u64, String)>,
    /// Function calls with their argument count (the receiver included).
    functions: Vec<(u64, String, usize)>,
    patterns: Vec<(u64, String)>,
}

/// Refuses expressions nested deeper than [`MAX_NESTING`] brackets.
fn check_nesting(source: &str) -> Result<(), CondError> {
    let mut depth = 0usize;
    let (mut line, mut column) = (1, 0);
    for c in source.chars() {
        column += 1;
        match c {
            '\n' => (line, column) = (line + 1, 0),
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > MAX_NESTING {
            return Err(CondError {
                line,
                column,
                message: format!("nested more than {MAX_NESTING} levels deep"),
            });
        }
    }
    Ok(())
}

/// What the top of an expression is when it cannot be true or false (a number, a text...).
fn not_boolean(e: &IdedExpr) -> Option<&'static str> {
    match &e.expr {
        Expr::Literal(LiteralValue::Boolean(_)) => None,
        Expr::Literal(LiteralValue::String(_) | LiteralValue::Bytes(_)) => Some("a text"),
        Expr::Literal(LiteralValue::Null) => Some("null"),
        Expr::Literal(_) => Some("a number"),
        Expr::List(_) => Some("a list"),
        Expr::Map(_) | Expr::Struct(_) => Some("a map"),
        Expr::Call(call) if NOT_BOOLEAN.contains(&call.func_name.as_str()) => {
            Some("not a comparison")
        }
        _ => None,
    }
}

impl Check {
    fn walk(&mut self, e: &IdedExpr, bound: &mut Vec<String>) {
        match &e.expr {
            Expr::Ident(name) => {
                if !bound.contains(name) {
                    self.idents.push((e.id, name.clone()));
                }
            }
            Expr::Select(select) => {
                if let Expr::Ident(root) = &select.operand.expr
                    && root == "event"
                    && !bound.iter().any(|b| b == "event")
                {
                    self.event_fields.push((e.id, select.field.clone()));
                }
                self.walk(&select.operand, bound);
            }
            Expr::Call(call) => {
                let operator = call.func_name.starts_with('_')
                    || call.func_name.ends_with('_')
                    || call.func_name.starts_with('@');
                if !operator {
                    let arity = call.args.len() + usize::from(call.target.is_some());
                    self.functions.push((e.id, call.func_name.clone(), arity));
                }
                if call.func_name == "_[_]"
                    && let [
                        target,
                        IdedExpr {
                            expr: Expr::Literal(LiteralValue::String(f)),
                            ..
                        },
                    ] = call.args.as_slice()
                    && matches!(&target.expr, Expr::Ident(root) if root == "event")
                {
                    self.event_fields.push((e.id, f.inner().to_string()));
                }
                if call.func_name == "matches"
                    && let Some(IdedExpr {
                        expr: Expr::Literal(LiteralValue::String(p)),
                        ..
                    }) = call.args.last()
                {
                    self.patterns.push((e.id, p.inner().to_string()));
                }
                if let Some(target) = &call.target {
                    self.walk(target, bound);
                }
                for arg in &call.args {
                    self.walk(arg, bound);
                }
            }
            Expr::Comprehension(c) => {
                self.walk(&c.iter_range, bound);
                self.walk(&c.accu_init, bound);
                let depth = bound.len();
                bound.push(c.iter_var.clone());
                bound.extend(c.iter_var2.clone());
                bound.push(c.accu_var.clone());
                self.walk(&c.loop_cond, bound);
                self.walk(&c.loop_step, bound);
                self.walk(&c.result, bound);
                bound.truncate(depth);
            }
            Expr::List(list) => {
                for item in &list.elements {
                    self.walk(item, bound);
                }
            }
            Expr::Map(map) => {
                for entry in &map.entries {
                    if let cel::common::ast::EntryExpr::MapEntry(entry) = &entry.expr {
                        self.walk(&entry.key, bound);
                        self.walk(&entry.value, bound);
                    }
                }
            }
            Expr::Struct(s) => {
                // No message types are declared: any `Type{...}` fails at run time.
                self.functions.push((e.id, s.type_name.clone(), 0));
            }
            Expr::Literal(_) | Expr::Unspecified => {}
        }
    }
}

/// CEL's outcome of a boolean expression: true, false or an error, which `&&`/`||` absorb
/// when the other side decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tri {
    True,
    False,
    Error,
}

impl From<bool> for Tri {
    fn from(b: bool) -> Self {
        if b { Tri::True } else { Tri::False }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Root {
    Lead,
    Account,
    /// `event.name`.
    EventName,
    /// `event.type`.
    EventType,
    /// `event.properties...`.
    EventProperties,
    /// `event.context...`.
    EventContext,
    /// `event` itself, before its field is known.
    Event,
}

/// An attribute path such as `lead.title`, `event.properties.path` or `lead["Job Title"]`,
/// optionally lower-cased (`.lowerAscii()`).
#[derive(Debug, Clone)]
struct Path {
    root: Root,
    segments: Vec<String>,
    lower: bool,
}

/// A literal as written in a condition.
#[derive(Debug, Clone)]
enum Lit {
    Str(String),
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, Copy)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn parse(name: &str) -> Option<CmpOp> {
        Some(match name {
            "_==_" => CmpOp::Eq,
            "_!=_" => CmpOp::Ne,
            "_<_" => CmpOp::Lt,
            "_<=_" => CmpOp::Le,
            "_>_" => CmpOp::Gt,
            "_>=_" => CmpOp::Ge,
            _ => return None,
        })
    }

    /// The operator with its operands swapped (`1 < x` is `x > 1`).
    fn flip(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            other => other,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum StrOp {
    StartsWith,
    EndsWith,
    Contains,
}

#[derive(Debug, Clone)]
enum Pred {
    Const(bool),
    And(Box<Pred>, Box<Pred>),
    Or(Box<Pred>, Box<Pred>),
    Not(Box<Pred>),
    /// `has(path)`.
    Has(Path),
    /// A path used as a boolean.
    Truthy(Path),
    Cmp(Path, CmpOp, Lit),
    In(Path, Vec<Lit>),
    Str(Path, StrOp, String),
    Matches(Path, Regex),
}

impl Pred {
    /// The native form of `e`, or `None` when only the interpreter can run it.
    fn compile(e: &IdedExpr) -> Option<Pred> {
        match &e.expr {
            Expr::Literal(LiteralValue::Boolean(b)) => Some(Pred::Const(**b)),
            Expr::Select(select) if select.test => {
                let mut path = Path::compile(&select.operand)?;
                // `has(event.properties)` tests a field of the event itself: interpreter.
                if path.lower || path.root == Root::Event {
                    return None;
                }
                path.segments.push(select.field.clone());
                Some(Pred::Has(path))
            }
            Expr::Select(_) | Expr::Ident(_) => Path::leaf(e).map(Pred::Truthy),
            Expr::Call(call) if call.func_name == "_[_]" || call.func_name == "lowerAscii" => {
                Path::leaf(e).map(Pred::Truthy)
            }
            Expr::Call(call) => {
                let name = call.func_name.as_str();
                match (name, call.target.as_deref(), call.args.as_slice()) {
                    ("_&&_", None, [a, b]) => Some(Pred::And(
                        Box::new(Pred::compile(a)?),
                        Box::new(Pred::compile(b)?),
                    )),
                    ("_||_", None, [a, b]) => Some(Pred::Or(
                        Box::new(Pred::compile(a)?),
                        Box::new(Pred::compile(b)?),
                    )),
                    ("!_", None, [a]) => Some(Pred::Not(Box::new(Pred::compile(a)?))),
                    ("@in", None, [a, list]) => {
                        let Expr::List(list) = &list.expr else {
                            return None;
                        };
                        if !list.optional_indices.is_empty() {
                            return None;
                        }
                        let lits = list
                            .elements
                            .iter()
                            .map(Lit::compile)
                            .collect::<Option<_>>()?;
                        Some(Pred::In(Path::leaf(a)?, lits))
                    }
                    ("startsWith" | "endsWith" | "contains", Some(target), [arg]) => {
                        let Some(Lit::Str(arg)) = Lit::compile(arg) else {
                            return None;
                        };
                        let op = match name {
                            "startsWith" => StrOp::StartsWith,
                            "endsWith" => StrOp::EndsWith,
                            _ => StrOp::Contains,
                        };
                        Some(Pred::Str(Path::leaf(target)?, op, arg))
                    }
                    ("matches", Some(target), [arg]) => {
                        let Some(Lit::Str(pattern)) = Lit::compile(arg) else {
                            return None;
                        };
                        Some(Pred::Matches(
                            Path::leaf(target)?,
                            Regex::new(&pattern).ok()?,
                        ))
                    }
                    (_, None, [a, b]) => {
                        let op = CmpOp::parse(name)?;
                        if let (Some(path), Some(lit)) = (Path::leaf(a), Lit::compile(b)) {
                            Some(Pred::Cmp(path, op, lit))
                        } else {
                            Some(Pred::Cmp(Path::leaf(b)?, op.flip(), Lit::compile(a)?))
                        }
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn eval(&self, vars: &Vars<'_>) -> Tri {
        match self {
            Pred::Const(b) => Tri::from(*b),
            Pred::And(a, b) => match (a.eval(vars), b.eval(vars)) {
                (Tri::False, _) | (_, Tri::False) => Tri::False,
                (Tri::True, Tri::True) => Tri::True,
                _ => Tri::Error,
            },
            Pred::Or(a, b) => match (a.eval(vars), b.eval(vars)) {
                (Tri::True, _) | (_, Tri::True) => Tri::True,
                (Tri::False, Tri::False) => Tri::False,
                _ => Tri::Error,
            },
            Pred::Not(a) => match a.eval(vars) {
                Tri::True => Tri::False,
                Tri::False => Tri::True,
                Tri::Error => Tri::Error,
            },
            Pred::Has(path) => path.has(vars),
            Pred::Truthy(path) => match path.resolve(vars) {
                Some(Val::Bool(b)) => Tri::from(b),
                _ => Tri::Error,
            },
            Pred::Cmp(path, op, lit) => match path.resolve(vars) {
                Some(v) => compare(&v, *op, lit),
                None => Tri::Error,
            },
            Pred::In(path, lits) => match path.resolve(vars) {
                Some(v) => Tri::from(lits.iter().any(|lit| equals(&v, lit))),
                None => Tri::Error,
            },
            Pred::Str(path, op, arg) => match path.resolve(vars) {
                Some(Val::Str(s)) => Tri::from(match op {
                    StrOp::StartsWith => s.starts_with(arg.as_str()),
                    StrOp::EndsWith => s.ends_with(arg.as_str()),
                    StrOp::Contains => s.contains(arg.as_str()),
                }),
                _ => Tri::Error,
            },
            Pred::Matches(path, regex) => match path.resolve(vars) {
                Some(Val::Str(s)) => Tri::from(regex.is_match(&s)),
                _ => Tri::Error,
            },
        }
    }
}

impl Lit {
    fn compile(e: &IdedExpr) -> Option<Lit> {
        match &e.expr {
            Expr::Literal(lit) => Some(match lit {
                LiteralValue::String(s) => Lit::Str(s.inner().to_string()),
                LiteralValue::Int(i) => Lit::Int(**i),
                LiteralValue::UInt(u) => Lit::UInt(**u),
                LiteralValue::Double(d) => Lit::Float(**d),
                LiteralValue::Boolean(b) => Lit::Bool(**b),
                LiteralValue::Null => Lit::Null,
                LiteralValue::Bytes(_) => return None,
            }),
            // CEL parses `-5` as a negation of 5.
            Expr::Call(call) if call.func_name == "-_" && call.args.len() == 1 => {
                match Lit::compile(&call.args[0])? {
                    Lit::Int(i) => i.checked_neg().map(Lit::Int),
                    Lit::Float(f) => Some(Lit::Float(-f)),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

impl Path {
    /// A path a predicate can read: not the bare `event` map, which only the interpreter has.
    fn leaf(e: &IdedExpr) -> Option<Path> {
        Path::compile(e).filter(|p| p.root != Root::Event)
    }

    fn compile(e: &IdedExpr) -> Option<Path> {
        match &e.expr {
            Expr::Ident(name) => {
                let root = match name.as_str() {
                    "lead" => Root::Lead,
                    "account" => Root::Account,
                    "event" => Root::Event,
                    _ => return None,
                };
                Some(Path {
                    root,
                    segments: Vec::new(),
                    lower: false,
                })
            }
            Expr::Select(select) if !select.test => {
                let mut path = Path::compile(&select.operand)?;
                if path.lower {
                    return None;
                }
                path.segments.push(select.field.clone());
                path.checked()
            }
            Expr::Call(call) if call.func_name == "_[_]" && call.target.is_none() => {
                let [
                    target,
                    IdedExpr {
                        expr: Expr::Literal(LiteralValue::String(key)),
                        ..
                    },
                ] = call.args.as_slice()
                else {
                    return None;
                };
                let mut path = Path::compile(target)?;
                if path.lower {
                    return None;
                }
                path.segments.push(key.inner().to_string());
                path.checked()
            }
            Expr::Call(call) if call.func_name == "lowerAscii" && call.args.is_empty() => {
                let mut path = Path::leaf(call.target.as_deref()?)?;
                if path.lower {
                    return None;
                }
                path.lower = true;
                Some(path)
            }
            _ => None,
        }
    }

    /// Paths the native evaluator resolves exactly as CEL does; others go to the interpreter.
    /// `event.<field>` becomes its own root here, so evaluation never compares field names.
    fn checked(mut self) -> Option<Path> {
        if self.root == Root::Event {
            let root = match self.segments.first().map(String::as_str) {
                Some("name") if self.segments.len() == 1 => Root::EventName,
                Some("type") if self.segments.len() == 1 => Root::EventType,
                Some("properties") => Root::EventProperties,
                Some("context") => Root::EventContext,
                _ => return None,
            };
            self.root = root;
            self.segments.remove(0);
        }
        Some(self)
    }

    fn map<'a>(&self, vars: &Vars<'a>) -> Option<&'a Attributes> {
        static EMPTY: LazyLock<Attributes> = LazyLock::new(Attributes::new);
        match self.root {
            Root::Lead => vars.lead,
            Root::Account => Some(vars.account.unwrap_or(&EMPTY)),
            Root::EventProperties => Some(&vars.event?.properties),
            Root::EventContext => Some(&vars.event?.context),
            Root::EventName | Root::EventType | Root::Event => None,
        }
    }

    fn resolve<'a>(&self, vars: &Vars<'a>) -> Option<Val<'a>> {
        let text: &'a str = match self.root {
            Root::EventName => &vars.event?.name,
            Root::EventType => vars.event?.kind.as_str(),
            _ => return self.resolve_in_map(vars),
        };
        self.lowered(Val::Str(Cow::Borrowed(text)))
    }

    fn resolve_in_map<'a>(&self, vars: &Vars<'a>) -> Option<Val<'a>> {
        let (map, segments) = (self.map(vars)?, &self.segments);
        let Some((last, inner)) = segments.split_last() else {
            // A bare map (`lead`) compares as a map.
            return Some(Val::Other);
        };
        let mut map = map;
        for segment in inner {
            match map.get(segment)? {
                Value::Object(m) => map = m,
                _ => return None,
            }
        }
        self.lowered(Val::from_json(map.get(last)?))
    }

    /// Applies `lowerAscii`, which is an error (no value) on anything but a string.
    fn lowered<'a>(&self, v: Val<'a>) -> Option<Val<'a>> {
        match v {
            Val::Str(s) if self.lower => Some(Val::Str(Cow::Owned(s.to_ascii_lowercase()))),
            _ if self.lower => None,
            other => Some(other),
        }
    }

    fn has(&self, vars: &Vars<'_>) -> Tri {
        let (Some(map), segments) = (self.map(vars), &self.segments) else {
            return Tri::Error;
        };
        let Some((last, inner)) = segments.split_last() else {
            return Tri::Error;
        };
        let mut map = map;
        for segment in inner {
            match map.get(segment) {
                Some(Value::Object(m)) => map = m,
                _ => return Tri::Error,
            }
        }
        Tri::from(map.contains_key(last))
    }
}

/// A value read from attributes, in CEL's terms.
#[derive(Debug)]
enum Val<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
    Null,
    /// A list or a map.
    Other,
}

impl<'a> Val<'a> {
    fn from_json(value: &'a Value) -> Val<'a> {
        match value {
            Value::String(s) => Val::Str(Cow::Borrowed(s)),
            Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => Val::Int(i),
                (None, Some(u)) => Val::UInt(u),
                _ => Val::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::Bool(b) => Val::Bool(*b),
            Value::Null => Val::Null,
            Value::Array(_) | Value::Object(_) => Val::Other,
        }
    }
}

/// A number in one of CEL's three numeric types; they compare with each other by value.
#[derive(Clone, Copy)]
enum Num {
    Int(i64),
    UInt(u64),
    Float(f64),
}

impl Num {
    fn cmp(self, other: Num) -> Option<Ordering> {
        match (self, other) {
            (Num::Float(a), b) => a.partial_cmp(&b.as_f64()),
            (a, Num::Float(b)) => a.as_f64().partial_cmp(&b),
            (a, b) => Some(a.as_i128().cmp(&b.as_i128())),
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::UInt(u) => u as f64,
            Num::Float(f) => f,
        }
    }

    fn as_i128(self) -> i128 {
        match self {
            Num::Int(i) => i as i128,
            Num::UInt(u) => u as i128,
            Num::Float(f) => f as i128,
        }
    }
}

fn val_num(v: &Val<'_>) -> Option<Num> {
    match v {
        Val::Int(i) => Some(Num::Int(*i)),
        Val::UInt(u) => Some(Num::UInt(*u)),
        Val::Float(f) => Some(Num::Float(*f)),
        _ => None,
    }
}

fn lit_num(l: &Lit) -> Option<Num> {
    match l {
        Lit::Int(i) => Some(Num::Int(*i)),
        Lit::UInt(u) => Some(Num::UInt(*u)),
        Lit::Float(f) => Some(Num::Float(*f)),
        _ => None,
    }
}

/// CEL equality: values of different types are unequal, numbers compare across types.
fn equals(v: &Val<'_>, lit: &Lit) -> bool {
    match (v, lit) {
        (Val::Str(a), Lit::Str(b)) => a == b,
        (Val::Bool(a), Lit::Bool(b)) => a == b,
        (Val::Null, Lit::Null) => true,
        _ => match (val_num(v), lit_num(lit)) {
            (Some(a), Some(b)) => a.cmp(b) == Some(Ordering::Equal),
            _ => false,
        },
    }
}

fn compare(v: &Val<'_>, op: CmpOp, lit: &Lit) -> Tri {
    let ordering = match op {
        CmpOp::Eq => return Tri::from(equals(v, lit)),
        CmpOp::Ne => return Tri::from(!equals(v, lit)),
        _ => match (v, lit) {
            (Val::Str(a), Lit::Str(b)) => Some(a.as_ref().cmp(b.as_str())),
            (Val::Bool(a), Lit::Bool(b)) => Some(a.cmp(b)),
            _ => match (val_num(v), lit_num(lit)) {
                (Some(a), Some(b)) => a.cmp(b),
                _ => return Tri::Error,
            },
        },
    };
    let Some(ordering) = ordering else {
        // NaN: every ordering comparison is false.
        return Tri::False;
    };
    Tri::from(match op {
        CmpOp::Lt => ordering == Ordering::Less,
        CmpOp::Le => ordering != Ordering::Greater,
        CmpOp::Gt => ordering == Ordering::Greater,
        CmpOp::Ge => ordering != Ordering::Less,
        CmpOp::Eq | CmpOp::Ne => unreachable!("handled above"),
    })
}
