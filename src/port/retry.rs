//! When a failed Port request is sent again, and after how long.
//!
//! A pure policy, so every decision is testable with a fixed clock:
//!
//! - **What is retried.** Failures where the request may not have been processed and a later
//!   attempt can succeed: connection failures, timeouts, and the statuses 408, 429, 500, 502,
//!   503 and 504. Any other status is Port's considered answer and is final (a 3xx too: it is
//!   not followed), and so is a TLS certificate the machine does not trust (another attempt
//!   meets the same certificate) and an answer larger than the client reads (another attempt
//!   gets the same answer).
//! - **Which routes may be repeated.** A request whose answer is lost (the connection drops or
//!   times out after it was sent) may have been carried out, so it is sent again only if a
//!   second copy changes nothing. Most of what port-action sends is such: reading a run or an
//!   entity, upserting an entity *by its identifier* with `merge=true` (the same values twice
//!   leave the same entity), a bulk upsert whose every element names its identifier, a PATCH of
//!   a run (each key is replaced by the same value), a delete, a search, the token request.
//!   These are not: posting a log line (a line posted twice shows twice in the run's log),
//!   creating a run (a second run of the action starts), and any entity write whose identity
//!   Port chooses: an upsert without `identifier`, or a bulk upsert with an element without
//!   one (Port generates a fresh identifier per request, so a second copy creates a second
//!   entity). Those are retried only when the request cannot have been processed: the
//!   connection was never made, or Port answered 429 (rate-limited requests are refused before
//!   any work) or 503 (the service did not take the request). When their answer is lost the
//!   step fails saying so, and says why the request was not sent again.
//! - **How long to wait.** Exponential backoff from [`BASE_DELAY`], doubling per attempt, capped
//!   at [`MAX_BACKOFF`], with "equal jitter" (half fixed, half random: the first wait is 0.5 to
//!   1 s, the longest 8 to 16 s) so that parallel jobs hitting the same rate limit spread out. When Port says when to come back (`Retry-After`
//!   in seconds or as an HTTP date, or on a 429 `x-ratelimit-reset` as seconds-until-reset or
//!   as epoch seconds) that wait is used instead, capped at [`MAX_SERVER_DELAY`].
//! - **How often, and until when.** At most `maxAttempts` attempts per request, and never a
//!   wait that would end past the step's deadline: the step then fails with the last error.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The first backoff before jitter (the wait is half to all of it): Port's documentation
/// recommends 1 s, doubling.
pub const BASE_DELAY: Duration = Duration::from_secs(1);
/// Longest computed backoff between two attempts, before jitter (the wait is half to all of
/// it).
pub const MAX_BACKOFF: Duration = Duration::from_secs(16);
/// Longest wait honoured when the server names one (`Retry-After`, `x-ratelimit-reset`).
pub const MAX_SERVER_DELAY: Duration = Duration::from_secs(60);
/// `x-ratelimit-reset` values above this are epoch seconds, below it seconds-until-reset.
const EPOCH_THRESHOLD: u64 = 1_000_000_000;

/// Whether a route may be sent twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// Sending it twice has the effect of sending it once.
    Idempotent,
    /// Sending it twice does it twice (a log line, a new run).
    Once,
}

/// How an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptFailure {
    /// No connection was made (refused, DNS, TLS handshake): Port never saw the request.
    Connect,
    /// The request was sent but no complete answer came in time, or the connection dropped.
    Interrupted,
    /// Port answered with this status.
    Status(u16),
    /// The connection was refused for a reason another attempt cannot change: the server's
    /// TLS certificate is not trusted.
    Untrusted,
    /// The answer was larger than the client reads; another attempt gets the same answer.
    TooLarge,
}

/// Statuses after which another attempt can succeed.
pub fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// Whether `failure` on a route of kind `repeat` is worth another attempt.
pub fn should_retry(failure: AttemptFailure, repeat: Repeat) -> bool {
    match (failure, repeat) {
        (AttemptFailure::Untrusted | AttemptFailure::TooLarge, _) => false,
        (AttemptFailure::Connect, _) => true,
        (AttemptFailure::Interrupted, Repeat::Idempotent) => true,
        (AttemptFailure::Interrupted, Repeat::Once) => false,
        (AttemptFailure::Status(s), Repeat::Idempotent) => is_transient_status(s),
        (AttemptFailure::Status(s), Repeat::Once) => matches!(s, 429 | 503),
    }
}

/// The backoff before attempt `attempt + 1` (attempts count from 1), with `jitter` in `[0, 1)`.
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    let exp = BASE_DELAY
        .saturating_mul(
            1u32.checked_shl(attempt.saturating_sub(1))
                .unwrap_or(u32::MAX),
        )
        .min(MAX_BACKOFF);
    let half = exp / 2;
    half + half.mul_f64(jitter.clamp(0.0, 1.0))
}

/// `Retry-After`: delta seconds, or an HTTP date (IMF-fixdate, or the obsolete RFC 850 and
/// asctime forms RFC 9110 asks recipients to accept). A date in the past means now. A value that
/// cannot be represented (more seconds than a `u64` holds, a year past 9999) is ignored
/// (`None`); any other wait is returned as it is, and [`server_delay`] caps it at
/// [`MAX_SERVER_DELAY`].
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `x-ratelimit-reset`: Port's documentation describes it both as the number of seconds until
/// the rate-limit window resets and as the reset time in epoch seconds (and its Terraform
/// provider reads seconds), so both are accepted: values above 10^9 are epoch seconds.
/// Negative and non-finite values are ignored, and so are values too large to represent
/// (`None`); a reset far away but representable is returned as it is, and [`server_delay`] caps
/// it at [`MAX_SERVER_DELAY`].
pub fn parse_ratelimit_reset(value: &str, now: SystemTime) -> Option<Duration> {
    let n = value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)?;
    let secs = Duration::try_from_secs_f64(n).ok()?;
    if n > EPOCH_THRESHOLD as f64 {
        let at = UNIX_EPOCH.checked_add(secs)?;
        Some(at.duration_since(now).unwrap_or(Duration::ZERO))
    } else {
        Some(secs)
    }
}

/// The wait the server asked for with an answer of `status`, if any, capped at
/// [`MAX_SERVER_DELAY`]. `Retry-After` counts on any answer; `x-ratelimit-reset` only on a 429:
/// Port sends it on every answer, and on any other status it is just the end of the current
/// rate-limit window (up to a minute away), not a reason to wait before retrying a 503.
pub fn server_delay(
    status: u16,
    retry_after: Option<&str>,
    ratelimit_reset: Option<&str>,
    now: SystemTime,
) -> Option<Duration> {
    let ratelimit_reset = ratelimit_reset.filter(|_| status == 429);
    retry_after
        .and_then(|v| parse_retry_after(v, now))
        .or_else(|| ratelimit_reset.and_then(|v| parse_ratelimit_reset(v, now)))
        .map(|d| d.min(MAX_SERVER_DELAY))
}

/// The wait before the next attempt, or `None` to give up: after `attempt` attempts out of
/// `max_attempts`, with `left` before the step's deadline.
pub fn next_delay(
    attempt: u32,
    max_attempts: u32,
    failure: AttemptFailure,
    repeat: Repeat,
    server_delay: Option<Duration>,
    left: Duration,
    jitter: f64,
) -> Option<Duration> {
    if attempt >= max_attempts || !should_retry(failure, repeat) {
        return None;
    }
    let wait = server_delay.unwrap_or_else(|| backoff(attempt, jitter));
    (wait < left).then_some(wait)
}

/// A number in `[0, 1)` for jitter; randomness from the standard library's hasher keys.
pub fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's numbers, written out rather than read from the constants, so that raising
    /// a cap fails these tests: the longest backoff is 16 s, the longest wait Port may name 60 s.
    const SIXTEEN_SECONDS: Duration = Duration::from_secs(16);
    const SIXTY_SECONDS: Duration = Duration::from_secs(60);

    /// 2026-11-26T12:00:00Z.
    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_795_694_400)
    }

    #[test]
    fn transient_statuses_are_retried_and_others_are_final() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(
                should_retry(AttemptFailure::Status(s), Repeat::Idempotent),
                "{s}"
            );
        }
        for s in [400, 401, 403, 404, 409, 413, 422, 501] {
            assert!(
                !should_retry(AttemptFailure::Status(s), Repeat::Idempotent),
                "{s}"
            );
        }
    }

    #[test]
    fn an_untrusted_certificate_is_final() {
        assert!(!should_retry(AttemptFailure::Untrusted, Repeat::Idempotent));
        assert!(!should_retry(AttemptFailure::Untrusted, Repeat::Once));
        assert!(!should_retry(AttemptFailure::TooLarge, Repeat::Idempotent));
    }

    #[test]
    fn a_log_line_is_repeated_only_when_port_cannot_have_taken_it() {
        assert!(should_retry(AttemptFailure::Connect, Repeat::Once));
        assert!(should_retry(AttemptFailure::Status(429), Repeat::Once));
        assert!(should_retry(AttemptFailure::Status(503), Repeat::Once));
        assert!(!should_retry(AttemptFailure::Interrupted, Repeat::Once));
        assert!(!should_retry(AttemptFailure::Status(500), Repeat::Once));
        assert!(!should_retry(AttemptFailure::Status(502), Repeat::Once));
        assert!(!should_retry(AttemptFailure::Status(504), Repeat::Once));
        assert!(should_retry(
            AttemptFailure::Interrupted,
            Repeat::Idempotent
        ));
    }

    #[test]
    fn backoff_doubles_from_one_second_with_equal_jitter_and_a_cap() {
        assert_eq!(backoff(1, 0.0), Duration::from_millis(500));
        assert!(backoff(1, 0.999_999) < Duration::from_secs(1));
        assert_eq!(backoff(2, 0.0), Duration::from_secs(1));
        assert_eq!(backoff(3, 0.5), Duration::from_secs(3));
        assert_eq!(backoff(10, 1.0), SIXTEEN_SECONDS);
        assert_eq!(backoff(10, 0.0), Duration::from_secs(8));
        assert_eq!(backoff(64, 1.0), SIXTEEN_SECONDS);
    }

    #[test]
    fn retry_after_in_seconds_and_as_an_http_date() {
        assert_eq!(parse_retry_after("7", now()), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Thu, 26 Nov 2026 12:00:30 GMT", now()),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Thu, 26 Nov 2026 11:00:00 GMT", now()),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now()), None);
        assert_eq!(
            parse_retry_after("Thu, 26 Foo 2026 12:00:30 GMT", now()),
            None
        );
    }

    #[test]
    fn ratelimit_reset_as_delta_or_epoch() {
        assert_eq!(
            parse_ratelimit_reset("12", now()),
            Some(Duration::from_secs(12))
        );
        assert_eq!(
            parse_ratelimit_reset("1795694405", now()),
            Some(Duration::from_secs(5))
        );
        assert_eq!(parse_ratelimit_reset("-3", now()), None);
        assert_eq!(parse_ratelimit_reset("x", now()), None);
    }

    #[test]
    fn absurd_ratelimit_resets_are_capped_or_ignored_never_a_panic() {
        // Representable but far: capped.
        for far in ["1e10", "9e18", "999999999"] {
            assert_eq!(
                server_delay(429, None, Some(far), now()),
                Some(SIXTY_SECONDS),
                "{far}"
            );
        }
        // Beyond the clock, negative, not a number: ignored.
        for ignored in [
            "1e19",
            "1e308",
            "18446744073709551616",
            "1.7976931348623157e308",
            "-1",
            "-1e19",
            "NaN",
            "nan",
            "inf",
            "-inf",
            "infinity",
            "",
            " ",
        ] {
            assert_eq!(parse_ratelimit_reset(ignored, now()), None, "{ignored:?}");
            assert_eq!(server_delay(429, None, Some(ignored), now()), None);
        }
        assert_eq!(parse_ratelimit_reset("0", now()), Some(Duration::ZERO));
        assert_eq!(
            parse_ratelimit_reset("1.5", now()),
            Some(Duration::from_millis(1500))
        );
    }

    #[test]
    fn absurd_retry_afters_are_capped_or_ignored_never_a_panic() {
        assert_eq!(
            parse_retry_after(&u64::MAX.to_string(), now()),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(
            server_delay(503, Some(&u64::MAX.to_string()), None, now()),
            Some(SIXTY_SECONDS)
        );
        assert_eq!(
            parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now()).map(|d| d > SIXTY_SECONDS),
            Some(true)
        );
        for ignored in [
            "99999999999999999999999999",
            "-1",
            "1e19",
            "NaN",
            "inf",
            "Sat, 01 Jan 99999999999 00:00:00 GMT",
            "Sun, 99 Nov 2026 12:00:30 GMT",
            "Thu, 26 Nov 2026 99:00:30 GMT",
            "Thu, 26 Nov -2026 12:00:30 GMT",
        ] {
            assert_eq!(parse_retry_after(ignored, now()), None, "{ignored:?}");
        }
    }

    #[test]
    fn retry_after_in_the_obsolete_date_forms() {
        assert_eq!(
            parse_retry_after("Thursday, 26-Nov-26 12:00:30 GMT", now()),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Thu Nov 26 12:00:30 2026", now()),
            Some(Duration::from_secs(30))
        );
    }

    #[test]
    fn server_delays_are_capped_and_retry_after_wins() {
        assert_eq!(
            server_delay(429, Some("3600"), None, now()),
            Some(SIXTY_SECONDS)
        );
        assert_eq!(
            server_delay(429, Some("2"), Some("30"), now()),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            server_delay(429, None, Some("30"), now()),
            Some(Duration::from_secs(30))
        );
        assert_eq!(server_delay(429, None, None, now()), None);
    }

    #[test]
    fn the_rate_limit_window_is_a_wait_only_when_rate_limited() {
        // Every Port answer carries x-ratelimit-reset; a 503 is retried after the backoff.
        assert_eq!(server_delay(503, None, Some("45"), now()), None);
        assert_eq!(server_delay(500, None, Some("1795694430"), now()), None);
        assert_eq!(
            server_delay(503, Some("3"), Some("45"), now()),
            Some(Duration::from_secs(3))
        );
    }

    #[test]
    fn attempts_and_the_deadline_bound_the_retries() {
        let left = Duration::from_secs(60);
        let f = AttemptFailure::Status(503);
        assert_eq!(
            next_delay(1, 5, f, Repeat::Idempotent, None, left, 0.0),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            next_delay(5, 5, f, Repeat::Idempotent, None, left, 0.0),
            None
        );
        assert_eq!(
            next_delay(
                1,
                5,
                f,
                Repeat::Idempotent,
                Some(Duration::from_secs(61)),
                left,
                0.0
            ),
            None,
            "a wait past the deadline is not made"
        );
        assert_eq!(
            next_delay(
                1,
                5,
                AttemptFailure::Status(404),
                Repeat::Idempotent,
                None,
                left,
                0.0
            ),
            None
        );
    }

    #[test]
    fn jitter_is_in_range() {
        for _ in 0..100 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j));
        }
    }
}
