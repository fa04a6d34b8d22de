//! Abuse limits: rate limiters (GCRA, `governor`) keyed by the client's address on `/v1/app/*`,
//! by the card and the client's address on enrollment starts, and by the sender on inbound SMS
//! (HTTP and SMPP alike).
//! A refusal is 429 `rate_limited` with `Retry-After`.
//!
//! They run on the server's clock (the fake one under `--unsafe-fake-clock`), so tests refill a
//! bucket by moving the clock, never by sleeping. They are per process: behind a balancer, N
//! servers let N times as much through.
//!
//! These limits slow guessing and flooding; they do not decide anything about a card. The tries
//! that count are the issuer's own: R5's failures (only `/v1/verify`), enrollment runs per card
//! number and address and per activation (`policy.activation.max_tries`, `max_tries_total`, in
//! the store, shared by every server), the ATM's PIN tries.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use governor::nanos::Nanos;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use pooya_issuer::clock::Clock;
use pooya_issuer::domain::{Mobile, Pan};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// One limit: `burst` requests at once, refilled evenly over `per_secs` (one every
/// `per_secs / burst` seconds). `burst = 0` turns the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    pub burst: u32,
    pub per_secs: u32,
}

impl Limit {
    fn quota(&self) -> Option<Quota> {
        let burst = NonZeroU32::new(self.burst)?;
        let period = Duration::from_secs(u64::from(self.per_secs)) / self.burst;
        Some(Quota::with_period(period)?.allow_burst(burst))
    }
}

/// `[limits]` of the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsSection {
    /// Requests to `/v1/app/*` per client address (an IPv6 client by its /64).
    pub app_per_ip: Limit,
    /// `POST /v1/app/enrollments` per card number and client address (a stranger's starts do
    /// not hold the holder back), counted only for starts whose message parses.
    pub enrollment_starts_per_card: Limit,
    /// Inbound SMS per sender (`/v1/sms/inbound` and SMPP `deliver_sm`).
    pub sms_inbound_per_mobile: Limit,
}

impl Default for LimitsSection {
    fn default() -> Self {
        LimitsSection {
            // Many holders can share one address behind a mobile carrier's NAT: be generous.
            app_per_ip: Limit {
                burst: 60,
                per_secs: 60,
            },
            enrollment_starts_per_card: Limit {
                burst: 10,
                per_secs: 3600,
            },
            sms_inbound_per_mobile: Limit {
                burst: 10,
                per_secs: 600,
            },
        }
    }
}

impl LimitsSection {
    /// Each limit on is a rate a limiter can hold.
    pub fn validate(&self) -> Result<(), String> {
        for (name, l) in [
            ("app_per_ip", &self.app_per_ip),
            (
                "enrollment_starts_per_card",
                &self.enrollment_starts_per_card,
            ),
            ("sms_inbound_per_mobile", &self.sms_inbound_per_mobile),
        ] {
            if l.burst > 0 && l.quota().is_none() {
                return Err(format!(
                    "limits.{name}: per_secs must be at least 1 when burst is above 0 (burst = 0 turns the limit off)"
                ));
            }
        }
        Ok(())
    }
}

/// The address a client is counted by: itself, or an IPv6 client's /64 (one subscriber commonly
/// holds a whole /64).
pub fn address_bucket(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// governor's clock is the server's clock: the fake one in tests.
#[derive(Clone)]
struct ServerClock(Arc<dyn Clock>);

impl governor::clock::Clock for ServerClock {
    type Instant = Nanos;
    fn now(&self) -> Nanos {
        let ms = u64::try_from(self.0.now_ms()).unwrap_or(0);
        Nanos::from(ms.saturating_mul(1_000_000))
    }
}

type Keyed<K> =
    RateLimiter<K, DashMapStateStore<K>, ServerClock, governor::middleware::NoOpMiddleware<Nanos>>;

struct One<K: Hash + Eq + Clone> {
    limiter: Keyed<K>,
    clock: ServerClock,
}

impl<K: Hash + Eq + Clone> One<K> {
    fn new(limit: &Limit, clock: &ServerClock) -> Option<One<K>> {
        Some(One {
            limiter: RateLimiter::dashmap_with_clock(limit.quota()?, clock.clone()),
            clock: clock.clone(),
        })
    }

    fn check(&self, key: &K) -> Result<(), RateLimited> {
        use governor::clock::Clock as _;
        self.limiter
            .check_key(key)
            .map_err(|not_until| RateLimited {
                retry_after: not_until.wait_time_from(self.clock.now()),
            })
    }

    fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// The server's limiters. Cards and mobiles are keyed by a hash under a key of this process, so
/// the limiter's memory holds no card or mobile number.
pub struct Limits {
    app_per_ip: Option<One<IpAddr>>,
    enroll_per_card: Option<One<[u8; 32]>>,
    sms_per_mobile: Option<One<[u8; 32]>>,
    salt: [u8; 32],
}

/// A request over its limit, and when the next one would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    pub retry_after: Duration,
}

impl RateLimited {
    /// Whole seconds, rounded up, at least 1 (what `Retry-After` can say).
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_millis().div_ceil(1000).max(1) as u64
    }
}

/// 429 `rate_limited`, with `retry_after_secs` in the error object and in `Retry-After`.
impl From<RateLimited> for ApiError {
    fn from(r: RateLimited) -> Self {
        let secs = r.retry_after_secs();
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests; try again in {secs} s"),
        );
        e.retry_after_secs = Some(secs);
        e
    }
}

impl Limits {
    pub fn new(section: &LimitsSection, clock: Arc<dyn Clock>) -> Limits {
        let clock = ServerClock(clock);
        Limits {
            app_per_ip: One::new(&section.app_per_ip, &clock),
            enroll_per_card: One::new(&section.enrollment_starts_per_card, &clock),
            sms_per_mobile: One::new(&section.sms_inbound_per_mobile, &clock),
            salt: pooya_issuer::keys::random_bytes::<32>(),
        }
    }

    /// No limit at all (a router built without configuration).
    pub fn off(clock: Arc<dyn Clock>) -> Limits {
        let off = Limit {
            burst: 0,
            per_secs: 0,
        };
        Limits::new(
            &LimitsSection {
                app_per_ip: off,
                enrollment_starts_per_card: off,
                sms_inbound_per_mobile: off,
            },
            clock,
        )
    }

    fn hashed(&self, what: &str, value: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.salt);
        h.update(what.as_bytes());
        h.update([0]);
        h.update(value.as_bytes());
        h.finalize().into()
    }

    /// A request to `/v1/app/*` from `client`.
    pub fn app_request(&self, client: IpAddr) -> Result<(), RateLimited> {
        let Some(l) = &self.app_per_ip else {
            return Ok(());
        };
        l.check(&address_bucket(client))
    }

    /// An enrollment start for `pan` from `client`.
    pub fn enrollment_start(&self, pan: &Pan, client: IpAddr) -> Result<(), RateLimited> {
        match &self.enroll_per_card {
            Some(l) => {
                let key = format!("{}/{}", pan.digits(), address_bucket(client));
                l.check(&self.hashed("pan-address", &key))
            }
            None => Ok(()),
        }
    }

    /// An inbound SMS from `from`.
    pub fn sms_inbound(&self, from: &Mobile) -> Result<(), RateLimited> {
        match &self.sms_per_mobile {
            Some(l) => l.check(&self.hashed("mobile", from.as_str())),
            None => Ok(()),
        }
    }

    /// Drops the state of keys whose bucket is full again: an attacker's many addresses or card
    /// numbers cost memory only while they are being limited.
    pub fn forget_idle(&self) {
        if let Some(l) = &self.app_per_ip {
            l.forget_idle();
        }
        if let Some(l) = &self.enroll_per_card {
            l.forget_idle();
        }
        if let Some(l) = &self.sms_per_mobile {
            l.forget_idle();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pooya_issuer::clock::FakeClock;

    fn limits(section: &LimitsSection) -> (Limits, FakeClock) {
        let clock = FakeClock::new(1_700_000_000_000);
        (Limits::new(section, Arc::new(clock.clone())), clock)
    }

    #[test]
    fn a_bucket_empties_and_refills_on_the_server_clock() {
        let section = LimitsSection {
            app_per_ip: Limit {
                burst: 3,
                per_secs: 60,
            },
            ..LimitsSection::default()
        };
        let (l, clock) = limits(&section);
        let a: IpAddr = "192.0.2.7".parse().unwrap();
        let b: IpAddr = "192.0.2.8".parse().unwrap();
        for _ in 0..3 {
            l.app_request(a).unwrap();
        }
        let refused = l.app_request(a).unwrap_err();
        assert_eq!(refused.retry_after_secs(), 20);
        // Another address has its own bucket.
        l.app_request(b).unwrap();
        clock.advance(19_000);
        assert!(l.app_request(a).is_err());
        clock.advance(1_000);
        l.app_request(a).unwrap();
        assert!(l.app_request(a).is_err());
        // Idle keys are dropped once their bucket is full again.
        clock.advance(3_600_000);
        l.forget_idle();
        assert_eq!(l.app_per_ip.as_ref().unwrap().limiter.len(), 0);
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let section = LimitsSection {
            app_per_ip: Limit {
                burst: 2,
                per_secs: 60,
            },
            ..LimitsSection::default()
        };
        let (l, _) = limits(&section);
        l.app_request("2001:db8:1:2::1".parse().unwrap()).unwrap();
        l.app_request("2001:db8:1:2::ffff".parse().unwrap())
            .unwrap();
        assert!(l
            .app_request("2001:db8:1:2:aa::1".parse().unwrap())
            .is_err());
        l.app_request("2001:db8:1:3::1".parse().unwrap()).unwrap();
    }

    #[test]
    fn burst_zero_is_off_and_bad_limits_are_refused() {
        let off = Limit {
            burst: 0,
            per_secs: 0,
        };
        let (l, _) = limits(&LimitsSection {
            enrollment_starts_per_card: off,
            ..LimitsSection::default()
        });
        let pan = Pan::parse("6280231234567898").unwrap();
        for _ in 0..1000 {
            l.enrollment_start(&pan, "192.0.2.7".parse().unwrap())
                .unwrap();
        }
        assert!(LimitsSection::default().validate().is_ok());
        let bad = LimitsSection {
            sms_inbound_per_mobile: Limit {
                burst: 5,
                per_secs: 0,
            },
            ..LimitsSection::default()
        };
        let e = bad.validate().unwrap_err();
        assert!(e.contains("sms_inbound_per_mobile"), "{e}");
    }

    #[test]
    fn cards_and_mobiles_have_buckets_of_their_own() {
        let one = Limit {
            burst: 1,
            per_secs: 600,
        };
        let (l, clock) = limits(&LimitsSection {
            enrollment_starts_per_card: one,
            sms_inbound_per_mobile: one,
            ..LimitsSection::default()
        });
        let p1 = Pan::parse("6280231234567898").unwrap();
        let p2 = Pan::parse("6280231234567880").unwrap();
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.7".parse().unwrap(), "192.0.2.8".parse().unwrap());
        l.enrollment_start(&p1, a).unwrap();
        assert_eq!(
            l.enrollment_start(&p1, a).unwrap_err().retry_after_secs(),
            600
        );
        l.enrollment_start(&p2, a).unwrap();
        // Another address's starts for the same card are its own.
        l.enrollment_start(&p1, b).unwrap();
        let m1 = Mobile::parse("09121234567").unwrap();
        let m2 = Mobile::parse("+989351234567").unwrap();
        l.sms_inbound(&m1).unwrap();
        // The same number written another way is the same sender.
        assert!(l
            .sms_inbound(&Mobile::parse("989121234567").unwrap())
            .is_err());
        l.sms_inbound(&m2).unwrap();
        clock.advance(599_500);
        assert_eq!(l.sms_inbound(&m1).unwrap_err().retry_after_secs(), 1);
        clock.advance(500);
        l.sms_inbound(&m1).unwrap();
    }
}
