//! Shipments: [`ship`] records a whole order and [`ship_package`] part of one (packer or
//! owner); [`confirm`] reports them to Amazon.
//!
//! Confirmation: queued packages go to Amazon in one `_POST_ORDER_FULFILLMENT_DATA_`
//! feed per run (SubmitFeed restores one request per two minutes, and Amazon asks for batches),
//! one `OrderFulfillment` message per package with its `Item` elements (`AmazonOrderItemCode`,
//! `Quantity`), and each feed's processing report is matched back per `MessageID`.
//!
//! **Never twice unnoticed.** A feed is written to the vault (`prepared`) before it is sent,
//! and marked `submitted` with Amazon's `FeedSubmissionId` when the reply comes. If the run
//! dies in between, or the upload fails in a way that may have reached Amazon, the next run
//! lists the recent fulfillment feeds Amazon holds: a feed we do not know, submitted after the
//! batch was written, is that batch (adopted); if there is none, the same bytes are sent again.
//! (This assumes this vault is the only sender of fulfillment feeds for the seller.)
//!
//! **Verdicts.** A feed can be `_DONE_` with errors, so each message is judged alone: an
//! `Error` result for its `MessageID` (or for the whole feed) makes the package `failed` and
//! the order `confirm_failed` with Amazon's reason; otherwise it is `confirmed`, and the order
//! is `confirmed` once every package is and no item is left to ship. A cancelled feed puts
//! its packages back in the queue.
//!
//! Audit records: `feed.submitted` (feed id, messages, adopted or sent), `feed.result` (the
//! report's counts), and per package `ship.confirmed` or `ship.confirm_failed` (order and
//! package number).

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::audit::{Event, Outcome};
use crate::calls::AuditedCalls;
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::model::package::{ItemArg, items_field};
use crate::model::tracking::{self, Carrier, Check};
use crate::mws::FULFILLMENT_FEED_TYPE;
use crate::mws::client::{Api, Client, Request};
use crate::mws::model::{
    FeedSubmissionInfo, FulfillmentFeed, FulfillmentItem, FulfillmentMessage, ProcessingReport,
    parse_mws_time,
};
use crate::mws::xml::{
    XmlError, parse_feed_result, parse_feed_submission_list, parse_submit_feed,
    write_fulfillment_feed,
};
use crate::role::Capability;
use crate::vault::progress;
use crate::vault::shipments::{self, Batch, NewShipment, Packed, Queued, Recorded, Verdict};
use crate::vault::{Session, Vault};

/// A shipment as the packer declares it, before its tracking number is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    /// `AmazonOrderId`.
    pub order_id: String,
    /// The carrier, already one of Amazon's codes or `Other` with a name
    /// ([`tracking::parse_carrier`]).
    pub carrier: Carrier,
    /// The tracking number as scanned or typed.
    pub tracking: String,
    /// Shipping method, e.g. "Priority Mail".
    pub method: Option<String>,
    /// Take the tracking number as given (`--no-verify`: a carrier the tool has no rule for).
    pub no_verify: bool,
}

impl Declared {
    /// The shipment to record, with its tracking number checked for its carrier and written
    /// as recorded (see [`tracking::check_tracking`]); refused as a usage error (exit 2).
    pub fn checked(&self) -> Result<(NewShipment, Check)> {
        let c = tracking::check_tracking(&self.carrier, &self.tracking, self.no_verify)
            .map_err(Error::Usage)?;
        Ok((
            NewShipment {
                order_id: self.order_id.clone(),
                carrier: self.carrier.name().to_string(),
                tracking: c.number,
                method: self.method.clone(),
            },
            c.check,
        ))
    }
}

/// Records a whole-order shipment as `s` (packer or owner) with its `ship.recorded` record:
/// everything left to ship goes in one package, the order becomes `shipped`, its retention
/// clock starts, and its confirmation is queued. A tracking number its carrier's rules refuse
/// is refused first, with nothing recorded.
pub fn ship(s: &Session<'_>, d: &Declared, now: DateTime<Utc>) -> Result<Recorded> {
    Ok(ship_package(s, d, &[], None, now)?.recorded)
}

/// Records one package of `items` (empty: everything left to ship; each named by its order
/// item id or its SKU) as `s` with its `ship.recorded` record (order, package number, items,
/// and how the tracking number was checked: `tracking_check`). The order is
/// `partially_shipped` while items are left and `shipped` once none is; its retention clock
/// starts when its last package ships. Refused whole, with nothing recorded (exit 2), when the
/// tracking number is not one of its carrier's, when an item is not in the order, is a SKU two
/// of its items share, or asks for more than is left. With `correct`, corrects the carrier and
/// tracking of that package instead (one Amazon has not taken yet).
pub fn ship_package(
    s: &Session<'_>,
    d: &Declared,
    items: &[ItemArg],
    correct: Option<u32>,
    now: DateTime<Utc>,
) -> Result<Packed> {
    s.require(Capability::Ship, "ship", now)?;
    let (new, check) = d.checked()?;
    let (code, name) = shipments::carrier_fields(&new.carrier);
    let base = Event::new("ship.recorded")
        .operator(s.name())
        .field("order", new.order_id.as_str())
        .field("carrier_code", code)
        .field("carrier_name", name)
        .field("tracking", new.tracking.trim())
        .field("tracking_check", check.as_str())
        .field("method", new.method.clone());
    // The package number and its items are known only inside the transaction: the record
    // is written after the package, in the same step.
    s.vault().record_after(now, |tx| {
        let items = shipments::resolve_items(tx, &new.order_id, items)?;
        let p = progress::record_package(tx, &new, &items, correct, s.name(), now)?;
        let ev = base
            .field("package", p.package)
            .field("items", items_field(&p.items))
            .field("corrected", p.recorded == Recorded::Corrected);
        Ok((p, vec![ev]))
    })
}

/// How much earlier than a batch was written Amazon's `SubmittedDate` may be and still be that
/// batch (clock difference between this machine and Amazon).
const CLOCK_SLACK: Duration = Duration::minutes(15);

/// What a confirmation run did (`confirm --json`; field names pinned by a test).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ConfirmReport {
    /// Feeds sent this run.
    pub feeds_submitted: u64,
    /// Packages (shipments) in those feeds.
    pub shipments_submitted: u64,
    /// Feeds found at Amazon after an interrupted run and adopted instead of sent again.
    pub feeds_adopted: u64,
    /// Feeds whose processing report was applied.
    pub feeds_done: u64,
    /// Feeds still being processed by Amazon (checked again next run).
    pub feeds_in_flight: u64,
    /// Shipments Amazon confirmed.
    pub confirmed: u64,
    /// Shipments Amazon refused (see `failures`).
    pub failed: u64,
    /// Shipments put back in the queue because Amazon cancelled their feed.
    pub requeued: u64,
    /// HTTP calls made (all attempts).
    pub calls: u64,
    /// Calls Amazon throttled.
    pub throttled: u64,
    /// Amazon's reason for each refused shipment.
    pub failures: Vec<Verdict>,
    /// Another `confirm` was running: this one did nothing (the next run carries on).
    pub already_running: bool,
}

/// A run that stopped on an error, with what it had done.
#[derive(Debug)]
pub struct ConfirmFailure {
    /// What was done before the error.
    pub report: ConfirmReport,
    /// The error.
    pub error: Error,
}

/// Runs one confirmation pass as `operator`. Audit records are stamped with `clock`; Amazon's
/// requests use the client's timebase. The quota model continues from and is saved to the
/// vault. On failure the report still says what was done.
pub fn confirm(
    vault: &Vault,
    operator: &str,
    client: &mut Client,
    clock: &dyn Clock,
) -> std::result::Result<ConfirmReport, Box<ConfirmFailure>> {
    let _lock = match confirm_lock(vault) {
        Ok(l) => l,
        Err(done) => return done,
    };
    crate::calls::restore_quota(vault, client);
    let mut pass = Pass {
        vault,
        operator,
        clock,
        obs: AuditedCalls::new(vault, clock, operator),
        client,
        report: ConfirmReport::default(),
    };
    let result = pass.run();
    let saved = crate::calls::save_quota(vault, pass.client);
    finish(result.and(saved), pass.report, &pass.obs)
}

/// Takes the home's confirm lock. One run at a time, on either marketplace: two overlapping
/// runs would send the same confirmation twice (MWS: the same shipments in two feeds). `Err`
/// is what the run returns at once: another run holds the lock, or it cannot be taken.
pub(crate) fn confirm_lock(
    vault: &Vault,
) -> std::result::Result<
    crate::home::RunLock,
    std::result::Result<ConfirmReport, Box<ConfirmFailure>>,
> {
    match vault.home().try_run_lock("confirm") {
        Ok(Some(l)) => Ok(l),
        Ok(None) => Err(Ok(ConfirmReport {
            already_running: true,
            ..Default::default()
        })),
        Err(error) => Err(Err(Box::new(ConfirmFailure {
            report: ConfirmReport::default(),
            error,
        }))),
    }
}

/// A run's outcome: its report with the calls and throttles counted, or the failure with
/// what was done.
pub(crate) fn finish(
    result: Result<()>,
    mut report: ConfirmReport,
    obs: &AuditedCalls<'_>,
) -> std::result::Result<ConfirmReport, Box<ConfirmFailure>> {
    report.calls = obs.calls;
    report.throttled = obs.throttled;
    match result {
        Ok(()) => Ok(report),
        Err(error) => Err(Box::new(ConfirmFailure { report, error })),
    }
}

/// One confirmation pass: what it works with and what it has done.
struct Pass<'a, 'c> {
    vault: &'a Vault,
    operator: &'a str,
    clock: &'a dyn Clock,
    obs: AuditedCalls<'a>,
    client: &'c mut Client,
    report: ConfirmReport,
}

impl Pass<'_, '_> {
    fn run(&mut self) -> Result<()> {
        self.reconcile()?;
        self.send_queued()?;
        self.collect()
    }

    /// A feeds-section call through the audited client.
    fn call<T>(
        &mut self,
        req: &Request<'_>,
        parse: impl FnMut(&mut dyn std::io::BufRead) -> std::result::Result<T, XmlError>,
    ) -> Result<T> {
        self.client
            .call(req, &mut self.obs, parse)
            .map_err(Error::from)
    }

    /// 1. Batches that may or may not have reached Amazon: adopt or send again.
    fn reconcile(&mut self) -> Result<()> {
        let prepared = self.vault.read(shipments::prepared_batches)?;
        if prepared.is_empty() {
            return Ok(());
        }
        let oldest = prepared
            .iter()
            .filter_map(|b| parse_mws_time(&b.created_at))
            .min()
            .unwrap_or_else(|| self.client.now());
        let mut unknown: Vec<FeedSubmissionInfo> = self
            .recent_feeds(oldest - CLOCK_SLACK)?
            .into_iter()
            .filter(|f| {
                !self
                    .vault
                    .read(|tx| shipments::known_feed(tx, &f.feed_submission_id))
                    .unwrap_or(true)
            })
            .collect();
        unknown.sort_by(|a, b| a.submitted_date.cmp(&b.submitted_date));
        for b in prepared {
            let written = parse_mws_time(&b.created_at).unwrap_or(oldest);
            let found = unknown.iter().position(|f| {
                parse_mws_time(&f.submitted_date).is_some_and(|t| t >= written - CLOCK_SLACK)
            });
            match found {
                Some(i) => {
                    let f = unknown.remove(i);
                    self.mark_submitted(&b, &f, true)?;
                    self.report.feeds_adopted += 1;
                }
                None => self.submit(&b)?,
            }
        }
        Ok(())
    }

    /// 2. Everything queued goes in one new feed.
    fn send_queued(&mut self) -> Result<()> {
        let queued = self.vault.read(shipments::queued)?;
        if queued.is_empty() {
            return Ok(());
        }
        let feed = FulfillmentFeed {
            merchant_identifier: self.client.credentials().seller_id.clone(),
            messages: queued.iter().map(feed_message).collect(),
        };
        let body = write_fulfillment_feed(&feed);
        let written = self.client.now();
        let id = self.vault.write(|tx| {
            let md5 = crate::mws::sign::content_md5(&body);
            shipments::create_batch(tx, &body, &md5, &queued, written)
        })?;
        self.submit(&Batch {
            id,
            created_at: crate::audit::format_ts(written),
            body,
            feed_id: None,
            messages: feed.messages.len() as u64,
        })
    }

    /// 3. The status of every feed in flight; the reports of those done.
    fn collect(&mut self) -> Result<()> {
        let submitted = self.vault.read(shipments::submitted_batches)?;
        for chunk in submitted.chunks(100) {
            let keys: Vec<String> = (1..=chunk.len())
                .map(|i| format!("FeedSubmissionIdList.Id.{i}"))
                .collect();
            let params = keys
                .iter()
                .zip(chunk)
                .map(|(k, b)| (k.as_str(), b.feed_id.clone().unwrap_or_default()))
                .collect();
            let list = self.call(
                &Request::new(Api::Feeds, "GetFeedSubmissionList", params),
                |r| parse_feed_submission_list(r),
            )?;
            for b in chunk {
                let status = list
                    .submissions
                    .iter()
                    .find(|f| Some(&f.feed_submission_id) == b.feed_id.as_ref())
                    .map(|f| f.feed_processing_status.as_str());
                match status {
                    Some("_DONE_") => self.apply(b)?,
                    Some("_CANCELLED_") => self.requeue(b)?,
                    _ => self.report.feeds_in_flight += 1,
                }
            }
        }
        Ok(())
    }

    /// Fulfillment feeds Amazon holds that were submitted since `from` (every page).
    fn recent_feeds(&mut self, from: DateTime<Utc>) -> Result<Vec<FeedSubmissionInfo>> {
        let params = vec![
            ("FeedTypeList.Type.1", FULFILLMENT_FEED_TYPE.to_string()),
            ("MaxCount", "100".to_string()),
            ("SubmittedFromDate", crate::mws::sign::timestamp(from)),
        ];
        let mut page = self.call(
            &Request::new(Api::Feeds, "GetFeedSubmissionList", params),
            |r| parse_feed_submission_list(r),
        )?;
        let mut paging = crate::market::Paging::new("GetFeedSubmissionList");
        let mut all = Vec::new();
        loop {
            let next = page.next_token.clone().filter(|_| page.has_next);
            paging.page(
                page.submissions
                    .iter()
                    .map(|f| f.feed_submission_id.as_str()),
                next.as_deref(),
            )?;
            all.append(&mut page.submissions);
            let Some(token) = next else {
                break;
            };
            let req = Request::new(
                Api::Feeds,
                "GetFeedSubmissionListByNextToken",
                vec![("NextToken", token)],
            );
            page = self.call(&req, |r| parse_feed_submission_list(r))?;
        }
        Ok(all)
    }

    fn submit(&mut self, b: &Batch) -> Result<()> {
        let req = Request {
            api: Api::Feeds,
            action: "SubmitFeed",
            params: vec![("FeedType", FULFILLMENT_FEED_TYPE.to_string())],
            upload: Some(&b.body),
            once: true,
        };
        let info = match self.call(&req, |r| parse_submit_feed(r)) {
            Ok(r) => r.info,
            Err(e) => {
                let ev = Event::new("feed.submitted")
                    .operator(self.operator)
                    .outcome(Outcome::Failed)
                    .field("batch", b.id)
                    .field("messages", b.messages)
                    .field("error", "upload_failed");
                self.vault.record(&[ev], self.clock.now())?;
                return Err(Error::Remote(format!(
                    "{e}. The confirmation feed is saved; the next run checks whether Amazon \
                     has it before sending it again"
                )));
            }
        };
        self.mark_submitted(b, &info, false)?;
        self.report.feeds_submitted += 1;
        self.report.shipments_submitted += b.messages;
        Ok(())
    }

    fn mark_submitted(&self, b: &Batch, info: &FeedSubmissionInfo, adopted: bool) -> Result<()> {
        let ev = Event::new("feed.submitted")
            .operator(self.operator)
            .field("feed_id", info.feed_submission_id.as_str())
            .field("feed_type", FULFILLMENT_FEED_TYPE)
            .field("batch", b.id)
            .field("messages", b.messages)
            .field("adopted", adopted);
        let now = self.clock.now();
        self.vault.record_with(&[ev], now, |tx| {
            shipments::mark_submitted(
                tx,
                b.id,
                &info.feed_submission_id,
                &info.submitted_date,
                now,
            )
        })
    }

    /// Amazon cancelled the feed: its shipments go back in the queue.
    fn requeue(&mut self, b: &Batch) -> Result<()> {
        let ev = Event::new("feed.result")
            .operator(self.operator)
            .outcome(Outcome::Failed)
            .field("feed_id", b.feed_id.clone())
            .field("status", "_CANCELLED_")
            .field("requeued", b.messages);
        let now = self.clock.now();
        self.vault
            .record_with(&[ev], now, |tx| shipments::mark_cancelled(tx, b.id, now))?;
        self.report.requeued += b.messages;
        Ok(())
    }

    /// Reads a done feed's report and applies its verdicts, with their records, in one step.
    fn apply(&mut self, b: &Batch) -> Result<()> {
        let feed_id = b.feed_id.clone().unwrap_or_default();
        let req = Request::new(
            Api::Feeds,
            "GetFeedSubmissionResult",
            vec![("FeedSubmissionId", feed_id.clone())],
        );
        let processing = self.call(&req, |r| {
            let mut raw = Vec::new();
            r.read_to_end(&mut raw)
                .map_err(|e| XmlError::Malformed(e.to_string()))?;
            parse_feed_result(&raw)
        })?;
        let now = self.clock.now();
        let verdicts = self
            .vault
            .read(|tx| shipments::batch_packages(tx, b.id))
            .map(|packages| judge(packages, &processing))?;
        let mut events = vec![
            Event::new("feed.result")
                .operator(self.operator)
                .field("feed_id", feed_id.as_str())
                .field("status", processing.status_code.clone())
                .field("processed", processing.messages_processed)
                .field("successful", processing.messages_successful)
                .field("errors", processing.messages_with_error)
                .field("warnings", processing.messages_with_warning),
        ];
        for v in &verdicts {
            let ev = Event::new(if v.confirmed {
                "ship.confirmed"
            } else {
                "ship.confirm_failed"
            })
            .operator(self.operator)
            .field("order", v.order_id.as_str())
            .field("package", v.package)
            .field("feed_id", feed_id.as_str());
            events.push(if v.confirmed {
                ev
            } else {
                ev.outcome(Outcome::Failed)
                    .field("code", v.code.clone())
                    .field("reason", v.message.clone())
            });
        }
        self.vault.record_with(&events, now, |tx| {
            progress::apply_verdicts(tx, b.id, &verdicts, now)
        })?;
        self.report.feeds_done += 1;
        for v in verdicts {
            if v.confirmed {
                self.report.confirmed += 1;
            } else {
                self.report.failed += 1;
                self.report.failures.push(v);
            }
        }
        Ok(())
    }
}

/// A queued package as its feed's `OrderFulfillment` message: its items as `Item` elements
/// (`AmazonOrderItemCode` and `Quantity`; none for a whole order whose items are unknown), the
/// ship date as Amazon's xsd:dateTime (whole seconds, UTC).
fn feed_message(q: &Queued) -> FulfillmentMessage {
    FulfillmentMessage {
        message_id: q.message_id,
        amazon_order_id: Some(q.order_id.clone()),
        carrier_code: q.carrier_code.clone(),
        carrier_name: q.carrier_name.clone(),
        shipper_tracking_number: Some(q.tracking.clone()),
        shipping_method: q.method.clone(),
        fulfillment_date: parse_mws_time(&q.shipped_at).map_or_else(
            || q.shipped_at.clone(),
            |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        ),
        items: q
            .items
            .iter()
            .map(|it| FulfillmentItem {
                amazon_order_item_code: Some(it.order_item_id.clone()),
                quantity: Some(it.quantity),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// Judges each package of a batch (`packages`, as [`shipments::batch_packages`] gives them) by
/// its processing report: confirmed unless the report lists an `Error` for its `MessageID` (or
/// for the whole feed).
pub fn judge(packages: Vec<(i64, String, u32, u64)>, report: &ProcessingReport) -> Vec<Verdict> {
    // An error that names no message (MessageID 0 or none: the whole feed) fails every message.
    let whole_feed = report
        .results
        .iter()
        .find(|r| r.result_code == "Error" && r.message_id.is_none_or(|m| m == 0));
    packages
        .into_iter()
        .map(|(shipment, order_id, package, message_id)| {
            let err = report
                .results
                .iter()
                .find(|r| r.result_code == "Error" && r.message_id == Some(message_id))
                .or(whole_feed);
            Verdict {
                order_id,
                package,
                confirmed: err.is_none(),
                code: err.and_then(|e| e.result_message_code.clone()),
                message: err.map(|e| e.result_description.clone()),
                shipment,
            }
        })
        .collect()
}
