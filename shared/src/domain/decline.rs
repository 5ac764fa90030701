//! The decline table (SPEC §8.1): what a failed payment's `failure_code` and `advice_code`
//! say about retrying it, in four classes. It lives here and nowhere else; `docs/declines.md`
//! gives its sources and the choices made where they disagree.
//!
//! Precedence, first match wins: the advice code (the processor's or network's own retry
//! advice) over the tenant's overrides over the table, and `unknown` for no code or a code
//! not listed. A tenant's `decline_overrides` move failure codes between classes; they never
//! touch what an advice code decided, so `do_not_try_again` stays `hard` whatever a tenant
//! says.

use super::fields::{Reader, join};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What a failed payment says about retrying the same credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureCategory {
    /// The issuer will never approve these credentials: never retried.
    Hard,
    /// The data is wrong or the customer must act first (a new card, authentication).
    ActionRequired,
    /// Temporary: retried within the caps.
    Soft,
    /// No code, or a code not in the table: retried within the caps, as a soft one is.
    Unknown,
}

impl FailureCategory {
    pub const ALL: [(&'static str, FailureCategory); 4] = [
        ("hard", Self::Hard),
        ("action_required", Self::ActionRequired),
        ("soft", Self::Soft),
        ("unknown", Self::Unknown),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hard => "hard",
            Self::ActionRequired => "action_required",
            Self::Soft => "soft",
            Self::Unknown => "unknown",
        }
    }

    /// Whether a `retry_payment` may be sent after a failure of this class (SPEC §8.5).
    pub fn may_retry(self) -> bool {
        matches!(self, Self::Soft | Self::Unknown)
    }
}

/// Advice codes, which decide before any failure code.
const ADVICE: [(&str, FailureCategory); 3] = [
    ("do_not_try_again", FailureCategory::Hard),
    ("confirm_card_data", FailureCategory::ActionRequired),
    ("try_again_later", FailureCategory::Soft),
];

/// Failure codes by class, as SPEC §8.1 lists them.
const HARD: [&str; 16] = [
    "lost_card",
    "stolen_card",
    "pickup_card",
    "fraudulent",
    "revocation_of_authorization",
    "revocation_of_all_authorizations",
    "stop_payment_order",
    "invalid_account",
    "incorrect_number",
    "invalid_number",
    "transaction_not_allowed",
    "card_not_supported",
    "currency_not_supported",
    "do_not_try_again",
    "previously_declined_do_not_retry",
    "merchant_blacklist",
];

const ACTION_REQUIRED: [&str; 12] = [
    "expired_card",
    "incorrect_cvc",
    "invalid_cvc",
    "incorrect_zip",
    "incorrect_address",
    "invalid_expiry_month",
    "invalid_expiry_year",
    "incorrect_pin",
    "invalid_pin",
    "authentication_required",
    "authentication_not_handled",
    "new_account_information_available",
];

const SOFT: [&str; 13] = [
    "insufficient_funds",
    "card_velocity_exceeded",
    "withdrawal_count_limit_exceeded",
    "processing_error",
    "issuer_not_available",
    "reenter_transaction",
    "try_again_later",
    "approve_with_id",
    "do_not_honor",
    "generic_decline",
    "restricted_card",
    "security_violation",
    "call_issuer",
];

/// The class the table gives a failure code, before any tenant override.
pub fn table_class(code: &str) -> FailureCategory {
    if HARD.contains(&code) {
        FailureCategory::Hard
    } else if ACTION_REQUIRED.contains(&code) {
        FailureCategory::ActionRequired
    } else if SOFT.contains(&code) {
        FailureCategory::Soft
    } else {
        FailureCategory::Unknown
    }
}

/// Every code the table lists, with its class: what the docs and the API show.
pub fn table() -> impl Iterator<Item = (&'static str, FailureCategory)> {
    HARD.iter()
        .map(|c| (*c, FailureCategory::Hard))
        .chain(
            ACTION_REQUIRED
                .iter()
                .map(|c| (*c, FailureCategory::ActionRequired)),
        )
        .chain(SOFT.iter().map(|c| (*c, FailureCategory::Soft)))
}

/// A tenant's moves of failure codes between classes (`decline_overrides`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeclineOverrides(pub BTreeMap<String, FailureCategory>);

/// Codes a tenant may override: enough for every processor's list, and bounded.
pub const MAX_OVERRIDES: usize = 200;
pub const MAX_CODE_LEN: usize = 64;

impl DeclineOverrides {
    /// The class of a failure: the advice code's, else the tenant's override of the code,
    /// else the table's (`unknown` for no code or one not listed).
    pub fn classify(
        &self,
        failure_code: Option<&str>,
        advice_code: Option<&str>,
    ) -> FailureCategory {
        if let Some(class) = advice_code.and_then(|a| ADVICE.iter().find(|(c, _)| *c == a)) {
            return class.1;
        }
        let Some(code) = failure_code else {
            return FailureCategory::Unknown;
        };
        self.0
            .get(code)
            .copied()
            .unwrap_or_else(|| table_class(code))
    }

    pub fn to_json(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(code, class)| (code.clone(), Value::from(class.as_str())))
                .collect::<Map<String, Value>>(),
        )
    }
}

/// Whether `s` is written as decline and advice codes are: lower-case letters, digits and
/// `_`, 1 to [`MAX_CODE_LEN`] characters.
pub fn is_code(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_CODE_LEN
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

pub const CODE_RULE: &str = "must be 1 to 64 characters of lower-case letters, digits and _";

/// Reads `decline_overrides`: an object from failure code to class.
pub fn parse_overrides(r: &mut Reader, path: &str, v: &Value) -> Option<DeclineOverrides> {
    let Value::Object(map) = v else {
        r.error(
            path,
            "must be an object from failure code to class (hard, action_required, soft, unknown)",
        );
        return None;
    };
    if map.len() > MAX_OVERRIDES {
        r.error(
            path,
            format!(
                "must have at most {MAX_OVERRIDES} entries, got {}",
                map.len()
            ),
        );
        return None;
    }
    let mut out = BTreeMap::new();
    let mut ok = true;
    for (code, class) in map {
        let field = join(path, code);
        if !is_code(code) {
            r.error(&field, format!("the key {CODE_RULE}"));
            ok = false;
            continue;
        }
        match r.choice(&field, class, &FailureCategory::ALL) {
            Some(class) => {
                out.insert(code.clone(), class);
            }
            None => ok = false,
        }
    }
    ok.then_some(DeclineOverrides(out))
}

#[cfg(test)]
mod tests {
    use super::FailureCategory::*;
    use super::*;

    fn none() -> DeclineOverrides {
        DeclineOverrides::default()
    }

    #[test]
    fn when_a_listed_code_is_classified_should_get_its_class_from_the_table() {
        // Every row of SPEC §8.1's table, written out again so that a change to the table
        // is a change to this test too.
        let rows: [(&str, FailureCategory); 41] = [
            ("lost_card", Hard),
            ("stolen_card", Hard),
            ("pickup_card", Hard),
            ("fraudulent", Hard),
            ("revocation_of_authorization", Hard),
            ("revocation_of_all_authorizations", Hard),
            ("stop_payment_order", Hard),
            ("invalid_account", Hard),
            ("incorrect_number", Hard),
            ("invalid_number", Hard),
            ("transaction_not_allowed", Hard),
            ("card_not_supported", Hard),
            ("currency_not_supported", Hard),
            ("do_not_try_again", Hard),
            ("previously_declined_do_not_retry", Hard),
            ("merchant_blacklist", Hard),
            ("expired_card", ActionRequired),
            ("incorrect_cvc", ActionRequired),
            ("invalid_cvc", ActionRequired),
            ("incorrect_zip", ActionRequired),
            ("incorrect_address", ActionRequired),
            ("invalid_expiry_month", ActionRequired),
            ("invalid_expiry_year", ActionRequired),
            ("incorrect_pin", ActionRequired),
            ("invalid_pin", ActionRequired),
            ("authentication_required", ActionRequired),
            ("authentication_not_handled", ActionRequired),
            ("new_account_information_available", ActionRequired),
            ("insufficient_funds", Soft),
            ("card_velocity_exceeded", Soft),
            ("withdrawal_count_limit_exceeded", Soft),
            ("processing_error", Soft),
            ("issuer_not_available", Soft),
            ("reenter_transaction", Soft),
            ("try_again_later", Soft),
            ("approve_with_id", Soft),
            ("do_not_honor", Soft),
            ("generic_decline", Soft),
            ("restricted_card", Soft),
            ("security_violation", Soft),
            ("call_issuer", Soft),
        ];
        for (code, class) in rows {
            assert_eq!(none().classify(Some(code), None), class, "{code}");
        }
        assert_eq!(table().count(), rows.len());
    }

    #[test]
    fn when_there_is_no_code_or_an_unlisted_one_should_be_unknown() {
        assert_eq!(none().classify(None, None), Unknown);
        assert_eq!(
            none().classify(Some("card_declined_by_moon"), None),
            Unknown
        );
        // An advice code that is not one of the three says nothing either.
        assert_eq!(none().classify(None, Some("call_us_maybe")), Unknown);
    }

    #[test]
    fn when_an_advice_code_is_present_should_decide_before_the_failure_code() {
        assert_eq!(
            none().classify(Some("insufficient_funds"), Some("do_not_try_again")),
            Hard
        );
        assert_eq!(
            none().classify(Some("insufficient_funds"), Some("confirm_card_data")),
            ActionRequired
        );
        assert_eq!(
            none().classify(Some("stolen_card"), Some("try_again_later")),
            Soft
        );
        assert_eq!(none().classify(None, Some("do_not_try_again")), Hard);
    }

    #[test]
    fn when_a_tenant_overrides_a_code_should_move_it_but_never_out_of_an_advised_hard() {
        let overrides = DeclineOverrides(BTreeMap::from([
            ("do_not_honor".to_owned(), Hard),
            ("restricted_card".to_owned(), Soft),
            ("stolen_card".to_owned(), Soft),
            ("weird_code".to_owned(), ActionRequired),
        ]));
        assert_eq!(overrides.classify(Some("do_not_honor"), None), Hard);
        assert_eq!(overrides.classify(Some("weird_code"), None), ActionRequired);
        assert_eq!(overrides.classify(Some("stolen_card"), None), Soft);
        // The advice code still decides first.
        assert_eq!(
            overrides.classify(Some("stolen_card"), Some("do_not_try_again")),
            Hard
        );
        assert_eq!(overrides.classify(Some("lost_card"), None), Hard);
    }

    #[test]
    fn when_overrides_are_malformed_should_name_each_bad_entry() {
        let mut r = Reader::new();
        let v =
            serde_json::json!({"Do_Not_Honor":"hard","generic_decline":"maybe","ok_code":"soft"});
        assert!(parse_overrides(&mut r, "decline_overrides", &v).is_none());
        let errors = r.finish(None::<()>).unwrap_err().0;
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "decline_overrides.Do_Not_Honor",
                "decline_overrides.generic_decline"
            ]
        );
    }
}
