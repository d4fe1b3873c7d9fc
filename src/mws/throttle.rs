//! Amazon's quota model: one leaky bucket per action group (MWS.md §2.5, §3.5), `now` injected.
//!
//! A bucket holds up to `max` requests and gets one back every `restore` interval; an hourly
//! quota (Feeds) is a sliding one-hour window. The sandbox enforces it; the client uses the same
//! model to ask "when may I send next?" ([`Throttle::next_allowed`]) and to correct itself after
//! a 503 ([`Throttle::on_throttled`]). Time scaling needs no special case: run it on sandbox time.
//!
//! **After a throttled answer** ([`Backoff`], shared with the SP-API model): when the request
//! took the model's last token, the model was most likely early by a request's transit (or a
//! clock's skew), and Amazon's bucket holds that token a moment later: the request is sent
//! again after a short step ([`throttle_step`]: a 100th of the restore interval, at least a
//! second of the timebase's time), doubling while the answers stay throttled, never beyond the
//! restore interval. A throttled answer while the model still held spare tokens says its
//! picture is wrong by more than a transit (another client on the same quota): the bucket is
//! empty, and the request waits a whole restore interval, as does every one after it while
//! Amazon keeps refusing. A request Amazon answers ends the streak ([`Throttle::on_answered`]).

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};

/// An action group that shares one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActionGroup {
    /// `ListOrders` + `ListOrdersByNextToken`.
    ListOrders,
    /// `GetOrder`.
    GetOrder,
    /// `ListOrderItems` + `ListOrderItemsByNextToken`.
    ListOrderItems,
    /// Orders `GetServiceStatus`.
    GetServiceStatus,
    /// `SubmitFeed`.
    SubmitFeed,
    /// `GetFeedSubmissionList`, `GetFeedSubmissionCount`, `CancelFeedSubmissions`.
    GetFeedSubmissionList,
    /// `GetFeedSubmissionListByNextToken`.
    GetFeedSubmissionListByNextToken,
    /// `GetFeedSubmissionResult`.
    GetFeedSubmissionResult,
    /// Merchant Fulfillment `GetEligibleShippingServices`.
    GetEligibleShippingServices,
    /// Merchant Fulfillment `GetAdditionalSellerInputs`.
    GetAdditionalSellerInputs,
    /// Merchant Fulfillment `CreateShipment`.
    CreateShipment,
    /// Merchant Fulfillment `GetShipment`.
    GetShipment,
    /// Merchant Fulfillment `CancelShipment`.
    CancelShipment,
}

/// A quota: burst size, restore interval, optional hourly cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Maximum requests in the bucket.
    pub max: u32,
    /// One request comes back per this interval.
    pub restore: Duration,
    /// Requests allowed in any hour, if the section has an hourly quota.
    pub hourly: Option<u32>,
}

/// One row of the quota table.
#[derive(Debug, Clone, Copy)]
pub struct QuotaRow {
    /// The group.
    pub group: ActionGroup,
    /// The actions sharing its bucket.
    pub actions: &'static [&'static str],
    /// Maximum requests in the bucket.
    pub max: u32,
    /// Restore interval in milliseconds (Merchant Fulfillment restores 5 a second).
    pub restore_ms: i64,
    /// Hourly cap, if any.
    pub hourly: Option<u32>,
}

const fn row(
    group: ActionGroup,
    actions: &'static [&'static str],
    max: u32,
    restore_ms: i64,
    hourly: Option<u32>,
) -> QuotaRow {
    QuotaRow {
        group,
        actions,
        max,
        restore_ms,
        hourly,
    }
}

/// The quota table as data (MWS.md §2.5 and §3.5).
pub const QUOTAS: &[QuotaRow] = &[
    row(
        ActionGroup::ListOrders,
        &["ListOrders", "ListOrdersByNextToken"],
        6,
        60000,
        None,
    ),
    row(ActionGroup::GetOrder, &["GetOrder"], 6, 60000, None),
    row(
        ActionGroup::ListOrderItems,
        &["ListOrderItems", "ListOrderItemsByNextToken"],
        30,
        2000,
        None,
    ),
    row(
        ActionGroup::GetServiceStatus,
        &["GetServiceStatus"],
        2,
        300000,
        None,
    ),
    row(
        ActionGroup::SubmitFeed,
        &["SubmitFeed"],
        15,
        120000,
        Some(30),
    ),
    row(
        ActionGroup::GetFeedSubmissionList,
        &[
            "GetFeedSubmissionList",
            "GetFeedSubmissionCount",
            "CancelFeedSubmissions",
        ],
        10,
        45000,
        Some(80),
    ),
    row(
        ActionGroup::GetFeedSubmissionListByNextToken,
        &["GetFeedSubmissionListByNextToken"],
        30,
        2000,
        Some(1800),
    ),
    row(
        ActionGroup::GetFeedSubmissionResult,
        &["GetFeedSubmissionResult"],
        15,
        60000,
        Some(60),
    ),
    // Merchant Fulfillment: 10 each, 5 restored per second.
    row(
        ActionGroup::GetEligibleShippingServices,
        &["GetEligibleShippingServices"],
        10,
        200,
        None,
    ),
    row(
        ActionGroup::GetAdditionalSellerInputs,
        &["GetAdditionalSellerInputs"],
        10,
        200,
        None,
    ),
    row(
        ActionGroup::CreateShipment,
        &["CreateShipment"],
        10,
        200,
        None,
    ),
    row(ActionGroup::GetShipment, &["GetShipment"], 10, 200, None),
    row(
        ActionGroup::CancelShipment,
        &["CancelShipment"],
        10,
        200,
        None,
    ),
];

impl ActionGroup {
    /// The group an action belongs to.
    pub fn of(action: &str) -> Option<ActionGroup> {
        QUOTAS
            .iter()
            .find(|q| q.actions.contains(&action))
            .map(|q| q.group)
    }

    /// This group's quota.
    pub fn quota(self) -> Quota {
        let q = QUOTAS
            .iter()
            .find(|q| q.group == self)
            .expect("every group is in QUOTAS");
        Quota {
            max: q.max,
            restore: Duration::milliseconds(q.restore_ms),
            hourly: q.hourly,
        }
    }
}

/// Why a request may not be sent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// The bucket is empty (`RequestThrottled`); a request comes back at this time.
    Throttled(DateTime<Utc>),
    /// The hourly quota is used up (`QuotaExceeded`); room again at this time.
    QuotaExceeded(DateTime<Utc>),
}

impl Denied {
    /// When to try again.
    pub fn retry_at(self) -> DateTime<Utc> {
        match self {
            Denied::Throttled(t) | Denied::QuotaExceeded(t) => t,
        }
    }
}

/// The first wait after a throttled answer to a request that took the model's last token: a
/// 100th of the refill `period`, at least a second, at most the period.
pub fn throttle_step(period: Duration) -> Duration {
    (period / 100).max(Duration::seconds(1)).min(period)
}

/// The waits after throttled answers in a row, for one bucket (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the last throttled answer of the current streak.
    last: Option<Duration>,
}

impl Backoff {
    /// The wait before sending again after a throttled answer, given the bucket's refill
    /// `period` and whether the request took the model's last token (`took_last`): the short
    /// step when the model expected Amazon to be about to hold a token, double the last wait
    /// while the streak goes on, the whole period otherwise; never more than the period.
    pub fn on_throttled(&mut self, period: Duration, took_last: bool) -> Duration {
        let d = match self.last {
            Some(prev) => (prev * 2).min(period),
            None if took_last => throttle_step(period),
            None => period,
        };
        self.last = Some(d);
        d
    }

    /// Amazon answered a request: the streak is over.
    pub fn reset(&mut self) {
        self.last = None;
    }
}

/// One leaky bucket.
#[derive(Debug, Clone)]
pub struct Bucket {
    quota: Quota,
    tokens: u32,
    /// Time from which the next token is counted.
    since: DateTime<Utc>,
    hour: VecDeque<DateTime<Utc>>,
    /// The last request taken was the bucket's last token.
    took_last: bool,
    backoff: Backoff,
}

impl Bucket {
    /// A full bucket at `now`.
    pub fn new(quota: Quota, now: DateTime<Utc>) -> Self {
        Bucket {
            quota,
            tokens: quota.max,
            since: now,
            hour: VecDeque::new(),
            took_last: false,
            backoff: Backoff::default(),
        }
    }

    fn refill(&mut self, now: DateTime<Utc>) {
        if now <= self.since {
            return;
        }
        let restore_ms = self.quota.restore.num_milliseconds().max(1);
        let n = (now - self.since).num_milliseconds() / restore_ms;
        if n > 0 {
            self.tokens = (self.tokens as i64 + n).min(self.quota.max as i64) as u32;
            self.since += Duration::milliseconds(n * restore_ms);
        }
        if self.tokens == self.quota.max {
            self.since = now;
        }
        while self
            .hour
            .front()
            .is_some_and(|t| *t + Duration::hours(1) <= now)
        {
            self.hour.pop_front();
        }
    }

    /// Requests available now.
    pub fn available(&mut self, now: DateTime<Utc>) -> u32 {
        self.refill(now);
        self.tokens
    }

    /// Takes one request if the quota allows it.
    pub fn try_take(&mut self, now: DateTime<Utc>) -> Result<(), Denied> {
        self.try_take_sent(now, Duration::zero())
    }

    /// The client's side of [`Bucket::try_take`]: a request sent at `now` reaches Amazon up to
    /// `transit` later, and Amazon's refill clock starts when the first request of a full
    /// bucket *arrives*. So the model checks availability at the send time and anchors its
    /// refill clock at the latest arrival: it can only err on the late side.
    pub fn try_take_sent(&mut self, now: DateTime<Utc>, transit: Duration) -> Result<(), Denied> {
        self.refill(now);
        if let Some(h) = self.quota.hourly
            && self.hour.len() >= h as usize
        {
            let at = self
                .hour
                .front()
                .map(|t| *t + Duration::hours(1))
                .unwrap_or(now);
            return Err(Denied::QuotaExceeded(at));
        }
        if self.tokens == 0 {
            return Err(Denied::Throttled(self.since + self.quota.restore));
        }
        if self.tokens == self.quota.max {
            self.since = now + transit;
        }
        self.took_last = self.tokens == 1;
        self.tokens -= 1;
        if self.quota.hourly.is_some() {
            self.hour.push_back(now);
        }
        Ok(())
    }

    /// The earliest time a request would be allowed (`now` if one is allowed now).
    pub fn next_allowed(&mut self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.refill(now);
        let mut at = now;
        if self.tokens == 0 {
            at = at.max(self.since + self.quota.restore);
        }
        if let Some(h) = self.quota.hourly
            && self.hour.len() >= h as usize
            && let Some(first) = self.hour.front()
        {
            at = at.max(*first + Duration::hours(1));
        }
        at
    }

    /// Corrects the model after Amazon answered 503: the bucket is empty as of `now`, and its
    /// next request comes back after the [`Backoff`]'s wait, which is returned.
    pub fn on_throttled(&mut self, now: DateTime<Utc>) -> Duration {
        self.refill(now);
        let d = self
            .backoff
            .on_throttled(self.quota.restore, self.took_last);
        self.tokens = 0;
        self.since = now + d - self.quota.restore;
        d
    }

    /// Amazon answered a request of this bucket: a throttled streak is over.
    pub fn on_answered(&mut self) {
        self.backoff.reset();
    }
}

/// Buckets for every action group, created full on first use.
#[derive(Debug, Clone, Default)]
pub struct Throttle {
    buckets: HashMap<ActionGroup, Bucket>,
    /// Groups this model sent or was throttled in (what [`Throttle::merge_into`] writes).
    touched: std::collections::HashSet<ActionGroup>,
}

impl Throttle {
    /// An empty model (every bucket full).
    pub fn new() -> Self {
        Self::default()
    }

    fn bucket(&mut self, group: ActionGroup, now: DateTime<Utc>) -> &mut Bucket {
        self.buckets
            .entry(group)
            .or_insert_with(|| Bucket::new(group.quota(), now))
    }

    /// Takes a request for `action` at `now`; actions without a quota always pass.
    pub fn try_acquire(&mut self, action: &str, now: DateTime<Utc>) -> Result<(), Denied> {
        self.try_acquire_sent(action, now, Duration::zero())
    }

    /// The client's [`Throttle::try_acquire`] for a request that reaches Amazon up to
    /// `transit` after `now` (see [`Bucket::try_take_sent`]).
    pub fn try_acquire_sent(
        &mut self,
        action: &str,
        now: DateTime<Utc>,
        transit: Duration,
    ) -> Result<(), Denied> {
        match ActionGroup::of(action) {
            Some(g) => {
                let taken = self.bucket(g, now).try_take_sent(now, transit);
                if taken.is_ok() {
                    self.touched.insert(g);
                }
                taken
            }
            None => Ok(()),
        }
    }

    /// When a request for `action` may be sent next.
    pub fn next_allowed(&mut self, action: &str, now: DateTime<Utc>) -> DateTime<Utc> {
        match ActionGroup::of(action) {
            Some(g) => self.bucket(g, now).next_allowed(now),
            None => now,
        }
    }

    /// Records a 503 `RequestThrottled` for `action`; returns the wait before its next
    /// request ([`Backoff`]; zero for an action without a quota).
    pub fn on_throttled(&mut self, action: &str, now: DateTime<Utc>) -> Duration {
        match ActionGroup::of(action) {
            Some(g) => {
                self.touched.insert(g);
                self.bucket(g, now).on_throttled(now)
            }
            None => Duration::zero(),
        }
    }

    /// Records that Amazon answered a request for `action` (not throttled).
    pub fn on_answered(&mut self, action: &str) {
        if let Some(b) = ActionGroup::of(action).and_then(|g| self.buckets.get_mut(&g)) {
            b.on_answered();
        }
    }
}

/// A bucket as persisted between runs (cron starts a new process every few minutes; the
/// model must remember what the last run used, or the first requests would be throttled).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct SavedBucket {
    /// The group's first action name.
    group: String,
    tokens: u32,
    since: DateTime<Utc>,
    hour: Vec<DateTime<Utc>>,
}

impl Throttle {
    /// The model's state as JSON, to store between runs.
    pub fn export(&self) -> String {
        let saved: Vec<SavedBucket> = QUOTAS
            .iter()
            .filter_map(|q| {
                self.buckets.get(&q.group).map(|b| SavedBucket {
                    group: q.actions[0].to_string(),
                    tokens: b.tokens,
                    since: b.since,
                    hour: b.hour.iter().copied().collect(),
                })
            })
            .collect();
        serde_json::to_string(&saved).expect("throttle state serializes")
    }

    /// `stored` (another process's [`Throttle::export`], saved since this model was restored)
    /// with this model's state for the groups it used. Cron runs `fetch` and `confirm` side
    /// by side: each writes back only what it consumed, so neither erases the other's use.
    pub fn merge_into(&self, stored: &str) -> String {
        let mut merged = Throttle::import(stored);
        for g in &self.touched {
            if let Some(b) = self.buckets.get(g) {
                merged.buckets.insert(*g, b.clone());
            }
        }
        merged.export()
    }

    /// A model restored from [`Throttle::export`]; unreadable or unknown entries are ignored
    /// (a full bucket is the fallback, and a 503 corrects it).
    pub fn import(json: &str) -> Throttle {
        let mut t = Throttle::new();
        let saved: Vec<SavedBucket> = serde_json::from_str(json).unwrap_or_default();
        for s in saved {
            if let Some(group) = ActionGroup::of(&s.group) {
                let quota = group.quota();
                t.buckets.insert(
                    group,
                    Bucket {
                        quota,
                        tokens: s.tokens.min(quota.max),
                        since: s.since,
                        hour: s.hour.into_iter().collect(),
                        took_last: false,
                        backoff: Backoff::default(),
                    },
                );
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        crate::clock::parse_time("2026-01-01T00:00:00Z").unwrap()
    }

    #[test]
    fn seventh_list_orders_is_throttled_and_one_returns_per_minute() {
        let mut th = Throttle::new();
        let now = t0();
        for i in 0..6 {
            assert!(
                th.try_acquire(
                    if i % 2 == 0 {
                        "ListOrders"
                    } else {
                        "ListOrdersByNextToken"
                    },
                    now
                )
                .is_ok()
            );
        }
        assert_eq!(
            th.try_acquire("ListOrders", now),
            Err(Denied::Throttled(now + Duration::minutes(1)))
        );
        assert_eq!(
            th.next_allowed("ListOrders", now),
            now + Duration::minutes(1)
        );
        let later = now + Duration::seconds(59);
        assert!(th.try_acquire("ListOrders", later).is_err());
        let later = now + Duration::minutes(1);
        assert!(th.try_acquire("ListOrders", later).is_ok());
        assert!(th.try_acquire("ListOrders", later).is_err());
        // Other groups are independent.
        assert!(th.try_acquire("GetOrder", later).is_ok());
    }

    #[test]
    fn bucket_refills_to_max_only() {
        let mut b = Bucket::new(ActionGroup::ListOrderItems.quota(), t0());
        for _ in 0..30 {
            b.try_take(t0()).unwrap();
        }
        assert_eq!(b.available(t0() + Duration::seconds(5)), 2);
        assert_eq!(b.available(t0() + Duration::hours(5)), 30);
    }

    #[test]
    fn hourly_quota_caps_submit_feed() {
        let mut th = Throttle::new();
        let mut now = t0();
        let mut ok = 0;
        for _ in 0..40 {
            if th.try_acquire("SubmitFeed", now).is_ok() {
                ok += 1;
            }
            now += Duration::minutes(2);
        }
        // 15 burst + 1 per 2 min: the hourly cap of 30 bites first.
        assert_eq!(ok, 30 + 10);
        let mut th = Throttle::new();
        for i in 0..30 {
            th.try_acquire("SubmitFeed", t0() + Duration::seconds(110 * i))
                .unwrap();
        }
        assert!(matches!(
            th.try_acquire("SubmitFeed", t0() + Duration::seconds(110 * 30)),
            Err(Denied::QuotaExceeded(_)) | Err(Denied::Throttled(_))
        ));
    }

    #[test]
    fn two_processes_saving_keep_each_others_use() {
        let start = Throttle::new().export();
        let mut fetch = Throttle::import(&start);
        let mut confirm = Throttle::import(&start);
        for _ in 0..6 {
            fetch.try_acquire("ListOrders", t0()).unwrap();
        }
        confirm.try_acquire("SubmitFeed", t0()).unwrap();
        let after_confirm = confirm.merge_into(&start);
        let after_fetch = fetch.merge_into(&after_confirm);
        let mut both = Throttle::import(&after_fetch);
        assert!(
            both.try_acquire("ListOrders", t0()).is_err(),
            "fetch's use kept"
        );
        for _ in 0..14 {
            both.try_acquire("SubmitFeed", t0()).unwrap();
        }
        assert!(
            both.try_acquire("SubmitFeed", t0()).is_err(),
            "confirm's use kept"
        );
    }

    #[test]
    fn on_throttled_empties_the_model() {
        let mut th = Throttle::new();
        th.on_throttled("GetOrder", t0());
        assert_eq!(
            th.next_allowed("GetOrder", t0()),
            t0() + Duration::minutes(1)
        );
        assert_eq!(th.next_allowed("Unknown", t0()), t0());
    }

    #[test]
    fn a_503_on_the_last_token_backs_off_from_a_short_step_to_the_restore_interval() {
        let mut th = Throttle::new();
        let start = t0();
        for _ in 0..6 {
            th.try_acquire("ListOrders", start).unwrap();
        }
        let mut now = th.next_allowed("ListOrders", start);
        assert_eq!(now - start, Duration::minutes(1));
        // 1 s (a 100th of a minute is less than a second), 2, 4, ..., 32, then 60 s.
        let mut want = Duration::seconds(1);
        for _ in 0..9 {
            th.try_acquire("ListOrdersByNextToken", now).unwrap();
            assert_eq!(th.on_throttled("ListOrders", now), want);
            assert_eq!(th.next_allowed("ListOrders", now), now + want);
            now += want;
            want = (want * 2).min(Duration::minutes(1));
        }
        th.try_acquire("ListOrders", now).unwrap();
        th.on_answered("ListOrders");
        now += Duration::minutes(1);
        th.try_acquire("ListOrders", now).unwrap();
        assert_eq!(th.on_throttled("ListOrders", now), Duration::seconds(1));
        // Spare tokens in the model: the whole interval, as before.
        let mut th = Throttle::new();
        th.try_acquire("ListOrders", start).unwrap();
        assert_eq!(th.on_throttled("ListOrders", start), Duration::minutes(1));
        assert_eq!(throttle_step(Duration::minutes(20)), Duration::seconds(12));
        assert_eq!(
            throttle_step(Duration::milliseconds(200)),
            Duration::milliseconds(200)
        );
    }

    #[test]
    fn state_survives_a_restart() {
        let t0 = crate::clock::parse_time("2026-01-01T00:00:00Z").unwrap();
        let mut t = Throttle::new();
        for _ in 0..6 {
            t.try_acquire("ListOrders", t0).unwrap();
        }
        let mut again = Throttle::import(&t.export());
        assert!(
            again
                .try_acquire("ListOrdersByNextToken", t0 + Duration::seconds(59))
                .is_err()
        );
        assert!(
            again
                .try_acquire("ListOrders", t0 + Duration::seconds(60))
                .is_ok()
        );
        assert!(
            Throttle::import("garbage")
                .try_acquire("ListOrders", t0)
                .is_ok()
        );
    }

    #[test]
    fn a_client_anchored_at_arrival_is_never_early_whatever_the_transit() {
        use rand::{RngExt, SeedableRng};
        let t0 = crate::clock::parse_time("2026-01-01T00:00:00Z").unwrap();
        let transit = Duration::milliseconds(600);
        for group in [ActionGroup::ListOrders, ActionGroup::ListOrderItems] {
            let mut rng = rand::rngs::StdRng::seed_from_u64(7);
            let (mut client, mut server) = (
                Bucket::new(group.quota(), t0),
                Bucket::new(group.quota(), t0),
            );
            let mut now = t0;
            for i in 0..300 {
                while let Err(d) = client.try_take_sent(now, transit) {
                    now = d.retry_at();
                }
                let arrives = now + Duration::milliseconds(rng.random_range(0..=600));
                assert!(
                    server.try_take(arrives).is_ok(),
                    "{group:?} request {i} arrived early at {arrives}"
                );
                now += Duration::milliseconds(rng.random_range(0..300));
            }
        }
    }
}
