//! The MWS fetch, as before the [`crate::market`] seam: [`fetch`] runs
//! [`crate::flow::fetch::fetch`] over the MWS adapter ([`crate::market::mws::Mws`]).

pub use crate::flow::fetch::{FetchFailure, FetchOptions, FetchReport, Progress, Quiet};

use crate::clock::Clock;
use crate::market::mws::Mws;
use crate::mws::client::Client;
use crate::vault::Session;

/// Fetches new and updated MFN orders from MWS and the items of orders that lack them.
pub fn fetch(
    session: &Session<'_>,
    client: &mut Client,
    opts: &FetchOptions,
    clock: &dyn Clock,
    progress: &mut dyn Progress,
) -> std::result::Result<FetchReport, Box<FetchFailure>> {
    crate::flow::fetch::fetch(session, &mut Mws::new(client), opts, clock, progress)
}
