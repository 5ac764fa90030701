//! The statistics of the weekly review (SPEC §8.9): a share with its Wilson interval, the
//! difference of two shares with Newcombe's interval built from them, the sample-ratio check,
//! and the median. Ratios are floats; money never passes through here.

/// The normal quantile of a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// The sample-ratio check's threshold and the fewest decisions per arm it needs (GrowthBook's
/// defaults, which SPEC §8.9 adopts).
pub const SRM_P: f64 = 0.001;
pub const SRM_MIN_PER_ARM: u64 = 8;

/// `x` of `n`, with its Wilson score interval at 95%.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Share {
    pub x: u64,
    pub n: u64,
}

impl Share {
    pub fn new(x: u64, n: u64) -> Self {
        debug_assert!(x <= n);
        Self { x, n }
    }

    /// `None` for an empty group: no share to speak of.
    pub fn rate(self) -> Option<f64> {
        (self.n > 0).then(|| self.x as f64 / self.n as f64)
    }

    /// The Wilson score interval (Newcombe 1998, method 3): never outside `[0, 1]`, and
    /// sensible at 0 and at `n` (where the normal approximation collapses to a point).
    pub fn wilson(self) -> Option<(f64, f64)> {
        let p = self.rate()?;
        let n = self.n as f64;
        let z2 = Z95 * Z95;
        let centre = p + z2 / (2.0 * n);
        let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
        let denominator = 1.0 + z2 / n;
        Some((
            ((centre - half) / denominator).max(0.0),
            ((centre + half) / denominator).min(1.0),
        ))
    }
}

/// `a − b` with Newcombe's 95% interval from the two Wilson intervals (Newcombe 1998,
/// method 10): `(difference, low, high)`; `None` when either group is empty.
pub fn difference(a: Share, b: Share) -> Option<(f64, f64, f64)> {
    let (p1, p2) = (a.rate()?, b.rate()?);
    let ((l1, u1), (l2, u2)) = (a.wilson()?, b.wilson()?);
    let d = p1 - p2;
    Some((
        d,
        d - ((p1 - l1).powi(2) + (u2 - p2).powi(2)).sqrt(),
        d + ((u1 - p1).powi(2) + (p2 - l2).powi(2)).sqrt(),
    ))
}

/// The sample-ratio check: the p-value of a chi-square goodness-of-fit (one degree of
/// freedom) of `held_out` against `treated` for an expected held-out share, or `None` when an
/// arm has fewer than [`SRM_MIN_PER_ARM`] decisions or the share leaves no arm to compare.
pub fn sample_ratio_p(held_out: u64, treated: u64, expected_share: f64) -> Option<f64> {
    if held_out < SRM_MIN_PER_ARM
        || treated < SRM_MIN_PER_ARM
        || !(expected_share > 0.0 && expected_share < 1.0)
    {
        return None;
    }
    let n = (held_out + treated) as f64;
    let (e1, e2) = (n * expected_share, n * (1.0 - expected_share));
    let chi2 = (held_out as f64 - e1).powi(2) / e1 + (treated as f64 - e2).powi(2) / e2;
    Some(erfc((chi2 / 2.0).sqrt()))
}

/// The complementary error function (Numerical Recipes' Chebyshev fit, fractional error
/// below 1.2e-7 everywhere): the upper tail of a chi-square with one degree of freedom is
/// `erfc(sqrt(x / 2))`.
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// The median of whole days (the mean of the middle two for an even count).
pub fn median(values: &mut [i64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid] as f64
    } else {
        (values[mid - 1] + values[mid]) as f64 / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64) {
        assert!((got - want).abs() < 0.000_05, "got {got}, want {want}");
    }

    /// Newcombe (1998), "Two-sided confidence intervals for the single proportion", Statistics
    /// in Medicine 17, 857–872, Table I, method 3 (the score interval without correction).
    #[test]
    fn when_a_share_is_estimated_should_give_the_published_wilson_intervals() {
        for (x, n, lo, hi) in [
            (81, 263, 0.2553, 0.3662),
            (15, 148, 0.0624, 0.1605),
            (0, 20, 0.0, 0.1611),
            (1, 29, 0.0061, 0.1718),
        ] {
            let (l, h) = Share::new(x, n).wilson().unwrap();
            close((l * 10_000.0).round() / 10_000.0, lo);
            close((h * 10_000.0).round() / 10_000.0, hi);
        }
        assert_eq!(Share::new(0, 0).wilson(), None);
        assert_eq!(Share::new(0, 0).rate(), None);
        let (l, h) = Share::new(29, 29).wilson().unwrap();
        assert!(l < 1.0 && h == 1.0, "{l} {h}");
    }

    /// Newcombe (1998), "Interval estimation for the difference between independent
    /// proportions: comparison of eleven methods", Statistics in Medicine 17, 873–890,
    /// Table II, method 10, examples (a)–(h).
    #[test]
    fn when_two_shares_are_compared_should_give_newcombes_published_intervals() {
        for ((x1, n1, x2, n2), lo, hi) in [
            ((56, 70, 48, 80), 0.0524, 0.3339),
            ((9, 10, 3, 10), 0.1705, 0.8090),
            ((6, 7, 2, 7), 0.0582, 0.8062),
            ((5, 56, 0, 29), -0.0381, 0.1926),
            ((0, 10, 0, 20), -0.1611, 0.2775),
            ((0, 10, 0, 10), -0.2775, 0.2775),
            ((10, 10, 0, 20), 0.6791, 1.0),
            ((10, 10, 0, 10), 0.6075, 1.0),
        ] {
            let (d, l, h) = difference(Share::new(x1, n1), Share::new(x2, n2)).unwrap();
            close(d, x1 as f64 / n1 as f64 - x2 as f64 / n2 as f64);
            close((l * 10_000.0).round() / 10_000.0, lo);
            close((h * 10_000.0).round() / 10_000.0, hi);
        }
        assert_eq!(difference(Share::new(0, 0), Share::new(3, 10)), None);
    }

    #[test]
    fn when_arms_drift_from_their_shares_should_flag_only_a_real_mismatch() {
        // 100 held out of 1000 at an expected 10%: exactly on target.
        close(sample_ratio_p(100, 900, 0.1).unwrap(), 1.0);
        // chi2 = 10²/100 + 10²/900 = 1.1111: p = 0.29184 (a textbook 1-df tail).
        close(sample_ratio_p(110, 890, 0.1).unwrap(), 0.291_84);
        // 150 of 1000 at 10%: chi2 = 27.78, p ≈ 1.4e-7, well under 0.001.
        assert!(sample_ratio_p(150, 850, 0.1).unwrap() < SRM_P);
        // Too few per arm, or no holdout to compare: no verdict.
        assert_eq!(sample_ratio_p(7, 900, 0.1), None);
        assert_eq!(sample_ratio_p(100, 900, 0.0), None);
    }

    #[test]
    fn when_the_error_function_is_evaluated_should_match_known_values() {
        close(erfc(0.0), 1.0);
        close(erfc(1.0), 0.157_299_2);
        close(erfc(-1.0), 1.842_700_8);
        // The 1-df chi-square critical value 3.8415 has tail 0.05.
        close(erfc((3.841_459f64 / 2.0).sqrt()), 0.05);
    }

    #[test]
    fn when_days_are_summarised_should_take_the_middle() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [9, 1, 4]), Some(4.0));
        assert_eq!(median(&mut [9, 1, 4, 2]), Some(3.0));
    }
}
