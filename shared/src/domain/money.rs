//! Money as integer minor units of an ISO 4217 currency. There is no float anywhere in a money
//! path: amounts arrive, are stored, compared and printed as `i64` minor units.

use std::fmt;

/// The largest magnitude accepted for an amount, in minor units (SPEC §2: ±10^15). It leaves
/// `i64` ample headroom, so differences of two amounts can never overflow.
pub const MAX_ABS_AMOUNT_MINOR: i64 = 1_000_000_000_000_000;

/// An ISO 4217 currency that RuleKit accepts, with its number of minor-unit digits: its place
/// in the table below (two bytes, where a code would be a sixteen-byte `&str`: every balance
/// of every stored event carries one). The table is sorted, so places order as codes do.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency(u16);

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.code())
    }
}

impl Currency {
    /// The currency for an upper-case ISO 4217 code, or the reason it is refused.
    pub fn parse(code: &str) -> Result<Self, String> {
        match ISO_4217.binary_search_by(|(c, _)| c.cmp(&code)) {
            Ok(i) => Ok(Self(i as u16)),
            Err(_) if code.len() == 3 && code.bytes().all(|b| b.is_ascii_lowercase()) => {
                Err(format!(
                    "unknown currency {code:?}; codes are upper case, e.g. {:?}",
                    code.to_ascii_uppercase()
                ))
            }
            Err(_) => Err(format!(
                "unknown currency {code:?}; expected an ISO 4217 code such as \"USD\""
            )),
        }
    }

    pub fn code(self) -> &'static str {
        ISO_4217[usize::from(self.0)].0
    }

    /// How many digits the minor unit has (2 for USD cents, 0 for JPY, 3 for KWD).
    pub fn minor_digits(self) -> u32 {
        u32::from(ISO_4217[usize::from(self.0)].1)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An amount in minor units of a currency. Negative balances mean the customer owes money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    pub amount_minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount_minor: i64, currency: Currency) -> Self {
        Self {
            amount_minor,
            currency,
        }
    }

    /// The amount in major units as exact decimal text, e.g. `-50.00 USD`: for people, never
    /// parsed back.
    pub fn to_decimal_string(self) -> String {
        let digits = self.currency.minor_digits();
        let sign = if self.amount_minor < 0 { "-" } else { "" };
        let abs = self.amount_minor.unsigned_abs();
        if digits == 0 {
            return format!("{sign}{abs} {}", self.currency);
        }
        let scale = 10u64.pow(digits);
        format!(
            "{sign}{}.{:0width$} {}",
            abs / scale,
            abs % scale,
            self.currency,
            width = digits as usize
        )
    }
}

/// Active ISO 4217 currency codes (funds and precious metals excluded) with their minor-unit
/// digits, sorted by code for binary search.
#[rustfmt::skip]
const ISO_4217: &[(&str, u8)] = &[
    ("AED", 2), ("AFN", 2), ("ALL", 2), ("AMD", 2), ("ANG", 2), ("AOA", 2), ("ARS", 2),
    ("AUD", 2), ("AWG", 2), ("AZN", 2), ("BAM", 2), ("BBD", 2), ("BDT", 2), ("BGN", 2),
    ("BHD", 3), ("BIF", 0), ("BMD", 2), ("BND", 2), ("BOB", 2), ("BRL", 2), ("BSD", 2),
    ("BTN", 2), ("BWP", 2), ("BYN", 2), ("BZD", 2), ("CAD", 2), ("CDF", 2), ("CHF", 2),
    ("CLP", 0), ("CNY", 2), ("COP", 2), ("CRC", 2), ("CUP", 2), ("CVE", 2), ("CZK", 2),
    ("DJF", 0), ("DKK", 2), ("DOP", 2), ("DZD", 2), ("EGP", 2), ("ERN", 2), ("ETB", 2),
    ("EUR", 2), ("FJD", 2), ("FKP", 2), ("GBP", 2), ("GEL", 2), ("GHS", 2), ("GIP", 2),
    ("GMD", 2), ("GNF", 0), ("GTQ", 2), ("GYD", 2), ("HKD", 2), ("HNL", 2), ("HTG", 2),
    ("HUF", 2), ("IDR", 2), ("ILS", 2), ("INR", 2), ("IQD", 3), ("IRR", 2), ("ISK", 0),
    ("JMD", 2), ("JOD", 3), ("JPY", 0), ("KES", 2), ("KGS", 2), ("KHR", 2), ("KMF", 0),
    ("KPW", 2), ("KRW", 0), ("KWD", 3), ("KYD", 2), ("KZT", 2), ("LAK", 2), ("LBP", 2),
    ("LKR", 2), ("LRD", 2), ("LSL", 2), ("LYD", 3), ("MAD", 2), ("MDL", 2), ("MGA", 2),
    ("MKD", 2), ("MMK", 2), ("MNT", 2), ("MOP", 2), ("MRU", 2), ("MUR", 2), ("MVR", 2),
    ("MWK", 2), ("MXN", 2), ("MYR", 2), ("MZN", 2), ("NAD", 2), ("NGN", 2), ("NIO", 2),
    ("NOK", 2), ("NPR", 2), ("NZD", 2), ("OMR", 3), ("PAB", 2), ("PEN", 2), ("PGK", 2),
    ("PHP", 2), ("PKR", 2), ("PLN", 2), ("PYG", 0), ("QAR", 2), ("RON", 2), ("RSD", 2),
    ("RUB", 2), ("RWF", 0), ("SAR", 2), ("SBD", 2), ("SCR", 2), ("SDG", 2), ("SEK", 2),
    ("SGD", 2), ("SHP", 2), ("SLE", 2), ("SOS", 2), ("SRD", 2), ("SSP", 2), ("STN", 2),
    ("SVC", 2), ("SYP", 2), ("SZL", 2), ("THB", 2), ("TJS", 2), ("TMT", 2), ("TND", 3),
    ("TOP", 2), ("TRY", 2), ("TTD", 2), ("TWD", 2), ("TZS", 2), ("UAH", 2), ("UGX", 0),
    ("USD", 2), ("UYU", 2), ("UZS", 2), ("VED", 2), ("VES", 2), ("VND", 0), ("VUV", 0),
    ("WST", 2), ("XAF", 0), ("XCD", 2), ("XCG", 2), ("XOF", 0), ("XPF", 0), ("YER", 2),
    ("ZAR", 2), ("ZMW", 2), ("ZWG", 2),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_the_table_is_searched_it_should_be_sorted_and_unique() {
        assert!(ISO_4217.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn when_a_code_is_known_should_parse_with_its_minor_digits() {
        assert_eq!(Currency::parse("USD").unwrap().minor_digits(), 2);
        assert_eq!(Currency::parse("JPY").unwrap().minor_digits(), 0);
        assert_eq!(Currency::parse("KWD").unwrap().minor_digits(), 3);
    }

    #[test]
    fn when_a_code_is_unknown_or_lower_case_should_say_why() {
        assert!(
            Currency::parse("XYZ")
                .unwrap_err()
                .contains("unknown currency")
        );
        assert!(Currency::parse("usd").unwrap_err().contains("\"USD\""));
    }

    #[test]
    fn when_printed_for_people_should_use_the_currency_digits() {
        let usd = Currency::parse("USD").unwrap();
        let jpy = Currency::parse("JPY").unwrap();
        let kwd = Currency::parse("KWD").unwrap();
        assert_eq!(Money::new(-5005, usd).to_decimal_string(), "-50.05 USD");
        assert_eq!(Money::new(-5005, jpy).to_decimal_string(), "-5005 JPY");
        assert_eq!(Money::new(1, kwd).to_decimal_string(), "0.001 KWD");
    }
}
