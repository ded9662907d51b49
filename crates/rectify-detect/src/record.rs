//! A CloudTrail record as the detectors read it, and the ways records
//! arrive: a log file (`{"Records": [...]}`), an EventBridge event that
//! carries one (`AWS API Call via CloudTrail`, `AWS Console Sign In via
//! CloudTrail`, ...), or a bare record.
//!
//! A record is read one of two ways, with the same result: from a parsed
//! `serde_json::Value` ([`Record::new`], what events arriving through the
//! engine already are), or from its JSON text ([`Record::from_text`], what
//! log files are), where only the fields the detectors read are decoded,
//! borrowed from the text, and the rest is checked and skipped. A
//! detection that needs more of the record (the checks of a signature
//! that matched) has it parsed then, once ([`Record::value`]).

use std::borrow::Cow;
use std::cell::{Cell, OnceCell};
use std::fmt;
use std::marker::PhantomData;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

/// The EventBridge detail-types whose `detail` is a CloudTrail record.
pub const CLOUDTRAIL_DETAIL_TYPES: &[&str] = &[
    "AWS API Call via CloudTrail",
    "AWS Console Sign In via CloudTrail",
    "AWS Console Action via CloudTrail",
    "AWS Service Event via CloudTrail",
    "AWS Insight via CloudTrail",
];

/// The CloudTrail records `input` holds, in order: every element of a log
/// file's `Records`, the `detail` of an EventBridge CloudTrail event, or
/// `input` itself when it is a record. Anything else holds none.
pub fn records(input: &Value) -> Vec<&Value> {
    if let Some(Value::Array(items)) = input.get("Records") {
        return items.iter().filter(|r| is_record(r)).collect();
    }
    if let (Some(detail_type), Some(detail)) = (
        input.get("detail-type").and_then(Value::as_str),
        input.get("detail"),
    ) {
        if CLOUDTRAIL_DETAIL_TYPES.contains(&detail_type) && is_record(detail) {
            return vec![detail];
        }
        return Vec::new();
    }
    if is_record(input) {
        return vec![input];
    }
    Vec::new()
}

fn is_record(v: &Value) -> bool {
    v.get("eventName").is_some_and(Value::is_string)
        && v.get("eventSource").is_some_and(Value::is_string)
}

/// The fields of a record the detectors read. A field that is missing or
/// not a string reads as empty, as in the record's `Value`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields<'a> {
    /// `None`: missing or not a string (then it is not a record).
    pub event_source: Option<Cow<'a, str>>,
    /// `None`: missing or not a string (then it is not a record).
    pub event_name: Option<Cow<'a, str>>,
    pub event_time: Cow<'a, str>,
    pub event_type: Cow<'a, str>,
    pub event_id: Cow<'a, str>,
    pub request_id: Cow<'a, str>,
    pub aws_region: Cow<'a, str>,
    pub source_ip: Cow<'a, str>,
    pub user_agent: Cow<'a, str>,
    pub error_code: Cow<'a, str>,
    pub recipient_account_id: Cow<'a, str>,
    pub identity: Identity<'a>,
    /// `responseElements.ConsoleLogin` (`Success`, `Failure`).
    pub console_login: Cow<'a, str>,
}

/// The fields of `userIdentity` the detectors read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity<'a> {
    pub kind: Cow<'a, str>,
    pub account_id: Cow<'a, str>,
    pub arn: Cow<'a, str>,
    pub principal_id: Cow<'a, str>,
    pub access_key_id: Cow<'a, str>,
    /// `sessionContext.sessionIssuer.arn`.
    pub issuer_arn: Cow<'a, str>,
}

impl<'a> Fields<'a> {
    /// The fields of a parsed record.
    pub fn from_value(v: &'a Value) -> Fields<'a> {
        let opt = |p: &str| v.pointer(p).and_then(Value::as_str).map(Cow::Borrowed);
        let s = |p: &str| opt(p).unwrap_or_default();
        Fields {
            event_source: opt("/eventSource"),
            event_name: opt("/eventName"),
            event_time: s("/eventTime"),
            event_type: s("/eventType"),
            event_id: s("/eventID"),
            request_id: s("/requestID"),
            aws_region: s("/awsRegion"),
            source_ip: s("/sourceIPAddress"),
            user_agent: s("/userAgent"),
            error_code: s("/errorCode"),
            recipient_account_id: s("/recipientAccountId"),
            identity: Identity {
                kind: s("/userIdentity/type"),
                account_id: s("/userIdentity/accountId"),
                arn: s("/userIdentity/arn"),
                principal_id: s("/userIdentity/principalId"),
                access_key_id: s("/userIdentity/accessKeyId"),
                issuer_arn: s("/userIdentity/sessionContext/sessionIssuer/arn"),
            },
            console_login: s("/responseElements/ConsoleLogin"),
        }
    }

    /// The fields of a record given as JSON text, borrowed from it where
    /// the text holds a string without escapes. Anything that is valid
    /// JSON reads (what is not an object has no fields); invalid JSON is
    /// the error.
    pub fn from_text(text: &'a str) -> Result<Fields<'a>, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(text);
        let fields = Lenient::<Fields<'a>>::new().deserialize(&mut de)?;
        de.end()?;
        Ok(fields)
    }

    fn is_record(&self) -> bool {
        self.event_name.is_some() && self.event_source.is_some()
    }
}

/// What a record is read from.
#[derive(Debug, Clone)]
enum Body<'a> {
    Value(&'a Value),
    /// Its JSON text, and its `Value` once something needed it.
    Text(&'a str, OnceCell<Value>),
}

/// A CloudTrail record: its typed fields, and the record itself (as a
/// `Value` or as JSON text). Missing or mistyped fields read as empty; a
/// record is never refused for its shape here.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    fields: Fields<'a>,
    body: Body<'a>,
    /// `eventTime` as seconds since the epoch, once computed.
    epoch: Cell<Option<Option<i64>>>,
}

impl<'a> Record<'a> {
    pub fn new(raw: &'a Value) -> Self {
        Record {
            fields: Fields::from_value(raw),
            body: Body::Value(raw),
            epoch: Cell::new(None),
        }
    }

    /// The record whose JSON text is `text`; `Ok(None)` when that is valid
    /// JSON but not a CloudTrail record (no string `eventName` and
    /// `eventSource`).
    pub fn from_text(text: &'a str) -> Result<Option<Record<'a>>, serde_json::Error> {
        let fields = Fields::from_text(text)?;
        if !fields.is_record() {
            return Ok(None);
        }
        Ok(Some(Record {
            fields,
            body: Body::Text(text, OnceCell::new()),
            epoch: Cell::new(None),
        }))
    }

    /// The record whose text is `text` and fields `fields` (read from
    /// it); `None` when it is not a CloudTrail record.
    pub(crate) fn from_fields(fields: Fields<'a>, text: &'a str) -> Option<Record<'a>> {
        fields.is_record().then(|| Record {
            fields,
            body: Body::Text(text, OnceCell::new()),
            epoch: Cell::new(None),
        })
    }

    /// The typed fields.
    pub fn fields(&self) -> &Fields<'a> {
        &self.fields
    }

    /// The whole record (parsed from its text the first time it is asked
    /// for, when it was read from text).
    pub fn value(&self) -> &Value {
        match &self.body {
            Body::Value(v) => v,
            Body::Text(text, parsed) => parsed.get_or_init(|| {
                // The text parsed once already, as the fields.
                serde_json::from_str(text).unwrap_or(Value::Null)
            }),
        }
    }

    /// The record's JSON text, when it was read from text.
    pub fn text(&self) -> Option<&'a str> {
        match &self.body {
            Body::Value(_) => None,
            Body::Text(text, _) => Some(text),
        }
    }

    /// `s3.amazonaws.com`.
    pub fn event_source(&self) -> &str {
        self.fields.event_source.as_deref().unwrap_or_default()
    }
    /// `PutBucketPolicy`.
    pub fn event_name(&self) -> &str {
        self.fields.event_name.as_deref().unwrap_or_default()
    }
    /// RFC 3339, as CloudTrail writes it (`2026-12-06T07:00:00Z`).
    pub fn event_time(&self) -> &str {
        &self.fields.event_time
    }
    /// `AwsApiCall`, `AwsConsoleSignIn`, ... or empty.
    pub fn event_type(&self) -> &str {
        &self.fields.event_type
    }
    /// Seconds since the epoch, when `eventTime` parses.
    pub fn epoch_seconds(&self) -> Option<i64> {
        if let Some(t) = self.epoch.get() {
            return t;
        }
        let t = epoch_seconds(self.event_time());
        self.epoch.set(Some(t));
        t
    }
    pub fn region(&self) -> &str {
        &self.fields.aws_region
    }
    pub fn source_ip(&self) -> &str {
        &self.fields.source_ip
    }
    pub fn user_agent(&self) -> &str {
        &self.fields.user_agent
    }
    /// `AccessDenied`, `Client.UnauthorizedOperation`, ... or empty.
    pub fn error_code(&self) -> &str {
        &self.fields.error_code
    }
    /// `eventID`, else `requestID`, else empty.
    pub fn id(&self) -> &str {
        match &*self.fields.event_id {
            "" => &self.fields.request_id,
            id => id,
        }
    }
    /// The account the call was made in: `recipientAccountId`, else the
    /// caller's own account.
    pub fn account(&self) -> &str {
        match &*self.fields.recipient_account_id {
            "" => &self.fields.identity.account_id,
            account => account,
        }
    }
    /// `Root`, `IAMUser`, `AssumedRole`, `AWSService`, ...
    pub fn identity_type(&self) -> &str {
        &self.fields.identity.kind
    }
    /// The caller's ARN (for an assumed role, the session's ARN).
    pub fn principal_arn(&self) -> &str {
        &self.fields.identity.arn
    }
    /// The long-lived principal behind the call: the role a session was
    /// issued for, else the caller's ARN, else the principal id.
    pub fn principal(&self) -> &str {
        let identity = &self.fields.identity;
        match &*identity.issuer_arn {
            "" => match &*identity.arn {
                "" => &identity.principal_id,
                arn => arn,
            },
            issuer => issuer,
        }
    }
    pub fn access_key_id(&self) -> &str {
        &self.fields.identity.access_key_id
    }
    /// `responseElements.ConsoleLogin`: `Success`, `Failure` or empty.
    pub fn console_login(&self) -> &str {
        &self.fields.console_login
    }
    pub fn request(&self) -> &Value {
        self.value()
            .get("requestParameters")
            .unwrap_or(&Value::Null)
    }
    pub fn response(&self) -> &Value {
        self.value().get("responseElements").unwrap_or(&Value::Null)
    }
    pub fn additional(&self) -> &Value {
        self.value()
            .get("additionalEventData")
            .unwrap_or(&Value::Null)
    }
    /// `aws` unless the region or the caller's ARN says otherwise.
    pub fn partition(&self) -> &str {
        let arn = self.principal_arn();
        if let Some(rest) = arn.strip_prefix("arn:") {
            if let Some(p) = rest.split(':').next().filter(|p| !p.is_empty()) {
                return p;
            }
        }
        let region = self.region();
        if region.starts_with("cn-") {
            "aws-cn"
        } else if region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        }
    }
}

/// RFC 3339 time to seconds since the epoch. CloudTrail's own form
/// (`2026-12-06T07:00:00Z`) is read directly; anything else goes through
/// the full RFC 3339 parser.
pub fn epoch_seconds(text: &str) -> Option<i64> {
    if let Some(t) = cloudtrail_time(text.as_bytes()) {
        return Some(t);
    }
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// `YYYY-MM-DDTHH:MM:SSZ` exactly, with a valid date and time; `None`
/// for anything else (left to the full parser).
fn cloudtrail_time(b: &[u8]) -> Option<i64> {
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || b[19] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        b[range].iter().try_fold(0i64, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

// The lenient, borrowing readers behind `Fields::from_text`: an object's
// wanted keys are read (the last of a repeated key wins, as in a `Value`),
// anything else is checked and skipped, and a value of another type than
// expected reads as empty.

/// A JSON object's fields, by key.
trait ObjectFields<'de>: Default {
    const KEYS: &'static [&'static str];
    fn field<A: MapAccess<'de>>(&mut self, key: usize, map: &mut A) -> Result<(), A::Error>;
}

/// Reads a `T` from an object, and an empty `T` from anything else.
struct Lenient<T>(PhantomData<T>);

impl<T> Lenient<T> {
    fn new() -> Self {
        Lenient(PhantomData)
    }
}

impl<'de, T: ObjectFields<'de>> DeserializeSeed<'de> for Lenient<T> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_any(self)
    }
}

macro_rules! empty_for_scalars {
    ($out:ty, $empty:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<$out, E> {
            Ok($empty)
        }
        fn visit_i64<E>(self, _: i64) -> Result<$out, E> {
            Ok($empty)
        }
        fn visit_u64<E>(self, _: u64) -> Result<$out, E> {
            Ok($empty)
        }
        fn visit_f64<E>(self, _: f64) -> Result<$out, E> {
            Ok($empty)
        }
        fn visit_unit<E>(self) -> Result<$out, E> {
            Ok($empty)
        }
        fn visit_none<E>(self) -> Result<$out, E> {
            Ok($empty)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<$out, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok($empty)
        }
    };
}

impl<'de, T: ObjectFields<'de>> Visitor<'de> for Lenient<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    empty_for_scalars!(T, T::default());
    fn visit_str<E>(self, _: &str) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let mut out = T::default();
        while let Some(key) = map.next_key_seed(Key(T::KEYS))? {
            match key {
                Some(k) => out.field(k, &mut map)?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }
}

/// An object key: its index in the wanted keys.
struct Key(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E>(self, v: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|k| *k == v))
    }
}

/// A string, borrowed when it has no escapes; `None` for anything else.
struct Str;

impl<'de> DeserializeSeed<'de> for Str {
    type Value = Option<Cow<'de, str>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Str {
    type Value = Option<Cow<'de, str>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    empty_for_scalars!(Option<Cow<'de, str>>, None);
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

fn string<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Cow<'de, str>, A::Error> {
    Ok(map.next_value_seed(Str)?.unwrap_or_default())
}

impl<'de> ObjectFields<'de> for Fields<'de> {
    const KEYS: &'static [&'static str] = &[
        "eventSource",
        "eventName",
        "eventTime",
        "eventType",
        "eventID",
        "requestID",
        "awsRegion",
        "sourceIPAddress",
        "userAgent",
        "errorCode",
        "recipientAccountId",
        "userIdentity",
        "responseElements",
    ];
    fn field<A: MapAccess<'de>>(&mut self, key: usize, map: &mut A) -> Result<(), A::Error> {
        match key {
            0 => self.event_source = map.next_value_seed(Str)?,
            1 => self.event_name = map.next_value_seed(Str)?,
            2 => self.event_time = string(map)?,
            3 => self.event_type = string(map)?,
            4 => self.event_id = string(map)?,
            5 => self.request_id = string(map)?,
            6 => self.aws_region = string(map)?,
            7 => self.source_ip = string(map)?,
            8 => self.user_agent = string(map)?,
            9 => self.error_code = string(map)?,
            10 => self.recipient_account_id = string(map)?,
            11 => self.identity = map.next_value_seed(Lenient::new())?,
            _ => {
                let response: Response<'de> = map.next_value_seed(Lenient::new())?;
                self.console_login = response.console_login;
            }
        }
        Ok(())
    }
}

impl<'de> ObjectFields<'de> for Identity<'de> {
    const KEYS: &'static [&'static str] = &[
        "type",
        "accountId",
        "arn",
        "principalId",
        "accessKeyId",
        "sessionContext",
    ];
    fn field<A: MapAccess<'de>>(&mut self, key: usize, map: &mut A) -> Result<(), A::Error> {
        match key {
            0 => self.kind = string(map)?,
            1 => self.account_id = string(map)?,
            2 => self.arn = string(map)?,
            3 => self.principal_id = string(map)?,
            4 => self.access_key_id = string(map)?,
            _ => {
                let context: SessionContext<'de> = map.next_value_seed(Lenient::new())?;
                self.issuer_arn = context.issuer_arn;
            }
        }
        Ok(())
    }
}

/// One JSON value's text as the readers of records see it: an array of
/// values, or an object (a log file, an EventBridge event, a record), or
/// something else.
// Made once per document read and taken apart at once: boxing the object
// would only add an allocation per JSON line.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Top<'a> {
    Array(Vec<&'a RawValue>),
    Object(TopObject<'a>),
    Other,
}

/// An object's `Records` (when an array), `detail-type` (when a string),
/// `detail`, and its fields as a record.
#[derive(Default)]
pub(crate) struct TopObject<'a> {
    pub records: Option<Vec<&'a RawValue>>,
    pub detail_type: Option<Cow<'a, str>>,
    pub detail: Option<&'a RawValue>,
    pub fields: Fields<'a>,
}

impl<'a> Top<'a> {
    pub(crate) fn parse(text: &'a str) -> Result<Top<'a>, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(text);
        let top = de.deserialize_any(TopVisitor)?;
        de.end()?;
        Ok(top)
    }
}

struct TopVisitor;

impl<'de> Visitor<'de> for TopVisitor {
    type Value = Top<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Top<'de>, E> {
        Ok(Top::Other)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Top<'de>, E> {
        Ok(Top::Other)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Top<'de>, E> {
        Ok(Top::Other)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Top<'de>, E> {
        Ok(Top::Other)
    }
    fn visit_unit<E>(self) -> Result<Top<'de>, E> {
        Ok(Top::Other)
    }
    fn visit_str<E>(self, _: &str) -> Result<Top<'de>, E> {
        Ok(Top::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Top<'de>, A::Error> {
        Ok(Top::Array(RawItems.visit_seq(seq)?.unwrap_or_default()))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Top<'de>, A::Error> {
        Ok(Top::Object(
            Lenient::<TopObject<'de>>::new().visit_map(map)?,
        ))
    }
}

/// An array's elements as their text; `None` for anything else.
struct RawItems;

impl<'de> DeserializeSeed<'de> for RawItems {
    type Value = Option<Vec<&'de RawValue>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RawItems {
    type Value = Option<Vec<&'de RawValue>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            items.push(item);
        }
        Ok(Some(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

const FIELD_KEYS: usize = 13;

impl<'de> ObjectFields<'de> for TopObject<'de> {
    const KEYS: &'static [&'static str] = &[
        "eventSource",
        "eventName",
        "eventTime",
        "eventType",
        "eventID",
        "requestID",
        "awsRegion",
        "sourceIPAddress",
        "userAgent",
        "errorCode",
        "recipientAccountId",
        "userIdentity",
        "responseElements",
        "Records",
        "detail-type",
        "detail",
    ];
    fn field<A: MapAccess<'de>>(&mut self, key: usize, map: &mut A) -> Result<(), A::Error> {
        match key {
            FIELD_KEYS => self.records = map.next_value_seed(RawItems)?,
            14 => self.detail_type = map.next_value_seed(Str)?,
            15 => self.detail = Some(map.next_value()?),
            k => self.fields.field(k, map)?,
        }
        Ok(())
    }
}

#[derive(Default)]
struct SessionContext<'a> {
    issuer_arn: Cow<'a, str>,
}

impl<'de> ObjectFields<'de> for SessionContext<'de> {
    const KEYS: &'static [&'static str] = &["sessionIssuer"];
    fn field<A: MapAccess<'de>>(&mut self, _: usize, map: &mut A) -> Result<(), A::Error> {
        let issuer: Issuer<'de> = map.next_value_seed(Lenient::new())?;
        self.issuer_arn = issuer.arn;
        Ok(())
    }
}

#[derive(Default)]
struct Issuer<'a> {
    arn: Cow<'a, str>,
}

impl<'de> ObjectFields<'de> for Issuer<'de> {
    const KEYS: &'static [&'static str] = &["arn"];
    fn field<A: MapAccess<'de>>(&mut self, _: usize, map: &mut A) -> Result<(), A::Error> {
        self.arn = string(map)?;
        Ok(())
    }
}

#[derive(Default)]
struct Response<'a> {
    console_login: Cow<'a, str>,
}

impl<'de> ObjectFields<'de> for Response<'de> {
    const KEYS: &'static [&'static str] = &["ConsoleLogin"];
    fn field<A: MapAccess<'de>>(&mut self, _: usize, map: &mut A) -> Result<(), A::Error> {
        self.console_login = string(map)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_come_from_log_files_events_and_bare_records() {
        let rec = json!({"eventName": "StopLogging", "eventSource": "cloudtrail.amazonaws.com"});
        let file = json!({"Records": [rec, {"not": "a record"}, rec]});
        assert_eq!(records(&file).len(), 2);
        let event = json!({"detail-type": "AWS API Call via CloudTrail", "detail": rec});
        assert_eq!(records(&event), vec![&rec]);
        let other = json!({"detail-type": "Security Hub Findings - Imported", "detail": rec});
        assert!(records(&other).is_empty());
        assert_eq!(records(&rec), vec![&rec]);
        assert!(records(&json!([1, 2])).is_empty());
    }

    #[test]
    fn cloudtrail_times_read_directly_agree_with_the_rfc3339_parser() {
        let full = |t: &str| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .ok()
                .map(|t| t.unix_timestamp())
        };
        // Every day from 1900 to 2200 at a few times of day, and the
        // days that do not exist.
        let mut day = time::Date::from_calendar_date(1900, time::Month::January, 1).unwrap();
        while day.year() < 2200 {
            for hms in ["00:00:00", "07:30:59", "23:59:59"] {
                let t = format!("{day}T{hms}Z");
                assert_eq!(cloudtrail_time(t.as_bytes()), full(&t), "{t}");
            }
            day = day.next_day().unwrap();
        }
        for t in [
            "2026-02-29T00:00:00Z",
            "2100-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2026-01-00T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:60:00Z",
            "2026-01-01T00:00:60Z",
            "2026-01-01T00:00:0aZ",
            "2026-01-01 00:00:00Z",
        ] {
            assert_eq!(cloudtrail_time(t.as_bytes()), None, "{t}");
            assert_eq!(epoch_seconds(t), full(t), "{t}");
        }
        // Other RFC 3339 forms go to the full parser.
        assert_eq!(
            epoch_seconds("2026-12-06T08:00:00.250+01:00"),
            Some(1_796_540_400)
        );
    }

    #[test]
    fn the_principal_is_the_role_behind_a_session() {
        let rec = json!({
            "eventName": "GetSecretValue", "eventSource": "secretsmanager.amazonaws.com",
            "eventTime": "2026-12-06T07:00:00Z", "awsRegion": "cn-north-1",
            "userIdentity": {
                "type": "AssumedRole", "accountId": "111122223333",
                "arn": "arn:aws-cn:sts::111122223333:assumed-role/app/i-0abc",
                "sessionContext": {"sessionIssuer": {"arn": "arn:aws-cn:iam::111122223333:role/app"}}
            }
        });
        let r = Record::new(&rec);
        assert_eq!(r.principal(), "arn:aws-cn:iam::111122223333:role/app");
        assert_eq!(r.account(), "111122223333");
        assert_eq!(r.partition(), "aws-cn");
        assert_eq!(r.epoch_seconds(), Some(1_796_540_400));
        assert_eq!(r.error_code(), "");
    }
}
