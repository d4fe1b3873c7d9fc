//! Command-line arguments: clap derive types only.
//!
//! No I/O and no config here ("low args"); [`crate::context`] turns them into real things.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Merchant-fulfilled Amazon orders in an encrypted local vault.
#[derive(Debug, Parser)]
#[command(name = "fulfill", version, about, long_about = None)]
pub struct Cli {
    /// Global options.
    #[command(flatten)]
    pub global: Global,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The home folder (default: $XDG_DATA_HOME/fulfill).
    #[arg(long, global = true, env = "FULFILL_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Act as this operator (default: the OS user).
    #[arg(long, global = true, env = "FULFILL_OPERATOR", value_name = "NAME")]
    pub operator: Option<String>,
    /// Read the operator's passphrase from FILE (otherwise a prompt on a TTY).
    #[arg(
        long,
        global = true,
        env = "FULFILL_PASSPHRASE_FILE",
        value_name = "FILE"
    )]
    pub passphrase_file: Option<PathBuf>,
    /// Read the one-time code (TOTP) of an operator with a second factor from FILE
    /// (otherwise a prompt on a TTY).
    #[arg(long, global = true, env = "FULFILL_TOTP_FILE", value_name = "FILE")]
    pub totp_file: Option<PathBuf>,
    /// Unlock with a 32-byte key file instead of a passphrase (service operators).
    #[arg(long, global = true, env = "FULFILL_KEY_FILE", value_name = "FILE")]
    pub operator_key_file: Option<PathBuf>,
    /// More diagnostic output on stderr (-v, -vv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Clock override, honoured only by a sandbox home (tests and the demo).
    #[arg(
        long,
        global = true,
        hide = true,
        env = "FULFILL_NOW",
        value_name = "TIME"
    )]
    pub now: Option<String>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new home folder, its vault and its owner.
    Init(InitArgs),
    /// Manage operators (people and services) and their roles.
    #[command(subcommand)]
    Operator(OperatorCmd),
    /// Set or show the Amazon credentials, SP-API or MWS (sealed in the vault).
    #[command(subcommand)]
    Credentials(CredentialsCmd),
    /// Rotate the vault's PII and secrets keys (owner): re-seal everything, deliver to holders.
    Rekey(RekeyArgs),
    /// Write a backup that holds no key to any buyer's details (owner); it may be kept anywhere.
    Backup(BackupArgs),
    /// Make a new home from a backup (the owner's passphrase); `fetch` then brings back PII.
    Restore(RestoreArgs),
    /// Pull new and updated merchant-fulfilled orders from Amazon into the vault.
    Fetch(FetchArgs),
    /// List stored orders and their items (never PII).
    Orders(OrdersArgs),
    /// Print shipping labels (packer or owner): to a raw TCP printer, a CUPS queue, a file, or
    /// spool/.
    Label(LabelArgs),
    /// Print packing slips (packer or owner): items, quantities, gift messages, ship-to, as PDF.
    Slip(SlipArgs),
    /// Packing station: scan an order to print its label, scan the tracking number to ship it.
    Station(StationArgs),
    /// Buy a label from Amazon (Buy Shipping: Shipping API v2 on SP-API, Merchant Fulfillment
    /// on MWS): quote without --service, buy with it.
    Buy(BuyArgs),
    /// Record a shipment (packer or owner); its confirmation to Amazon is queued.
    Ship(ShipArgs),
    /// Send queued shipment confirmations to Amazon and collect their results.
    Confirm(ConfirmArgs),
    /// Destroy PII past its retention (cron, daily; needs no passphrase).
    Purge(PurgeArgs),
    /// Compliance report: audit chain, retention, permissions, leak scan (auditor or owner).
    Audit(AuditArgs),
    /// Show or change `config.toml` (owner or admin; every change is audited).
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Run a local fake Amazon (SP-API, or MWS) on loopback, for tests, training and the demo.
    Sandbox(SandboxArgs),
    /// The whole flow in a temporary sandbox home, against the built-in sandbox.
    Demo(DemoArgs),
    /// Pick list: each SKU to pick, its quantity and orders, by bin (any operator; no PII).
    Picklist(PicklistArgs),
    /// End-of-day pickup manifest: each carrier's parcels of a day, for the driver (packer or
    /// owner; no buyer data).
    Manifest(ManifestArgs),
    /// SKU data the seller keeps: bin locations for the pick list.
    #[command(subcommand)]
    Sku(SkuCmd),
    /// Print a shell completion script to stdout (needs no home).
    Completions(CompletionsArgs),
    /// Print the man page (roff) to stdout, or write every page to a folder (needs no home).
    Man(ManArgs),
}

/// `fulfill rekey`.
#[derive(Debug, Args)]
pub struct RekeyArgs {
    /// Print what was rotated as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `fulfill backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The backup file to write (must not exist; written 0600).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Print what was written as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `fulfill restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup file `fulfill backup` wrote.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Print what was restored as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `fulfill man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write fulfill.1 and one page per subcommand (fulfill-init.1, ...) into DIR instead.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// Shells `fulfill completions` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShellArg {
    /// GNU Bash.
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
}

/// `fulfill completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: ShellArg,
}

/// Which orders a pick list is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PickStatusArg {
    /// Orders waiting for a label.
    Unshipped,
    /// Orders with a label printed, not shipped yet.
    Labelled,
    /// Both: everything not shipped yet.
    Open,
}

/// Pick list formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PicklistFormat {
    /// Plain text columns.
    Text,
    /// A paginated PDF (embedded fonts: any script).
    Pdf,
    /// CSV: bin, sku, quantity, orders, marketplaces.
    Csv,
}

/// Paper sizes for printed lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PaperArg {
    /// US Letter, 8.5 x 11 in.
    Letter,
    /// ISO A4, 210 x 297 mm.
    A4,
}

/// `fulfill picklist`.
#[derive(Debug, Args)]
pub struct PicklistArgs {
    /// The orders to pick for.
    #[arg(long, value_enum, default_value = "unshipped")]
    pub status: PickStatusArg,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: PicklistFormat,
    /// Paper size of the PDF.
    #[arg(long, value_enum, default_value = "letter")]
    pub paper: PaperArg,
    /// Write to FILE (0600) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `fulfill manifest`.
#[derive(Debug, Args)]
pub struct ManifestArgs {
    /// The day (YYYY-MM-DD, in local time); today by default.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub date: Option<chrono::NaiveDate>,
    /// Only this carrier's parcels (Amazon's code, e.g. UPS, or an Other carrier's name).
    #[arg(long, value_name = "CARRIER")]
    pub carrier: Option<String>,
    /// The file to write (0600): FILE.pdf or FILE.csv.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Paper size of the PDF.
    #[arg(long, value_enum, default_value = "letter")]
    pub paper: PaperArg,
    /// Print what was written as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `fulfill sku ...`.
#[derive(Debug, Subcommand)]
pub enum SkuCmd {
    /// Set the bin location of a SKU (owner or admin; audited).
    SetLocation {
        /// The seller SKU, as Amazon lists it.
        sku: String,
        /// The bin, shelf or aisle code (up to 32 characters).
        bin: String,
    },
}

/// `fulfill demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Orders in the sandbox.
    #[arg(long, default_value_t = 150)]
    pub orders: usize,
    /// Seed for the sandbox's data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Sandbox time runs this much faster than real time (Amazon's quota ratios are kept).
    #[arg(long, default_value_t = 600.0)]
    pub time_scale: f64,
    /// Keep the temporary home afterwards.
    #[arg(long)]
    pub keep: bool,
    /// Which Amazon API to run the flow on: the Selling Partner API (what sellers have today)
    /// or MWS.
    #[arg(long, value_enum, default_value_t = SandboxApi::SpApi)]
    pub api: SandboxApi,
    /// Keep the demo vault's rows in this PostgreSQL database (an empty one; see `init
    /// --store`) instead of a vault.db.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
}

/// `fulfill credentials ...`.
// Parsed once per process: the size of `Set` does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum CredentialsCmd {
    /// Store one region's SP-API credentials, or with `--api mws` MWS credentials (owner or
    /// admin). Secrets are read from files, never from argv. SP-API: one authorisation (refresh
    /// token) per region, with that region's marketplaces; setting another region adds it,
    /// setting a region again replaces only that region.
    Set {
        /// Which Amazon API the credentials are for: the Selling Partner API (what sellers
        /// connect with today), or MWS (switched off by Amazon; for existing homes).
        #[arg(long, value_enum, default_value_t = SandboxApi::SpApi)]
        api: SandboxApi,
        /// Sandbox homes: take every value from the line `fulfill sandbox --line-file FILE`
        /// wrote (waits up to 10 s for the sandbox to write it).
        #[arg(long, value_name = "LINE_FILE", conflicts_with_all = [
            "seller_id", "access_key_id", "secret_key_file", "marketplaces", "endpoint",
            "auth_token_file", "lwa_client_id", "lwa_client_secret_file", "refresh_token_file",
            "region", "token_endpoint", "time_scale", "discover",
        ])]
        from_sandbox: Option<PathBuf>,
        /// Merchant token (`SellerId`; SP-API: the selling partner id).
        #[arg(long, required_unless_present = "from_sandbox")]
        seller_id: Option<String>,
        /// MWS: `AWSAccessKeyId`.
        #[arg(long)]
        access_key_id: Option<String>,
        /// MWS: file holding the MWS secret key.
        #[arg(long, value_name = "FILE")]
        secret_key_file: Option<PathBuf>,
        /// Marketplace to fetch: Amazon's id, or its country (DE, UK, ...). Repeat for several
        /// (at most 50). SP-API: every one must be of --region (a marketplace of another
        /// region is refused, naming its region).
        #[arg(
            long = "marketplace",
            value_name = "ID",
            required_unless_present_any = ["from_sandbox", "discover"],
            value_parser = crate::model::marketplace::marketplace_arg,
        )]
        marketplaces: Vec<String>,
        /// SP-API: ask Amazon where the seller sells (`getMarketplaceParticipations`) and store
        /// the marketplaces of --region it lists, instead of --marketplace.
        #[arg(long, conflicts_with = "marketplaces")]
        discover: bool,
        /// Endpoint base URL (SP-API: defaults from --region; MWS: required, e.g.
        /// https://mws.amazonservices.com). http:// only for a loopback sandbox from a sandbox home.
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
        /// MWS: file holding an `MWSAuthToken` (delegated access only).
        #[arg(long, value_name = "FILE")]
        auth_token_file: Option<PathBuf>,
        /// SP-API: the Login with Amazon client id.
        #[arg(long, value_name = "ID")]
        lwa_client_id: Option<String>,
        /// SP-API: file holding the Login with Amazon client secret.
        #[arg(long, value_name = "FILE")]
        lwa_client_secret_file: Option<PathBuf>,
        /// SP-API: file holding the app's refresh token.
        #[arg(long, value_name = "FILE")]
        refresh_token_file: Option<PathBuf>,
        /// SP-API: the region these credentials authorise (na, eu, fe; default na); gives the
        /// default endpoint. Each region is stored on its own.
        #[arg(long, value_name = "REGION")]
        region: Option<String>,
        /// SP-API: the LWA token endpoint (default https://api.amazon.com/auth/o2/token).
        #[arg(long, value_name = "URL")]
        token_endpoint: Option<String>,
        /// Sandbox homes: the sandbox's --time-scale, so the quota model keeps Amazon's ratios.
        #[arg(long, default_value_t = 1.0)]
        time_scale: f64,
    },
    /// Show the stored credentials without any secret: SP-API, each region with its
    /// marketplaces.
    #[command(alias = "show")]
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove one SP-API region's credentials (owner or admin); the other regions stay.
    Remove {
        /// The region (na, eu, fe).
        #[arg(long, value_name = "REGION")]
        region: String,
    },
}

/// `fulfill fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// First run only: fetch orders updated since TIME (default: 30 days back).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `fulfill orders`.
#[derive(Debug, Args)]
pub struct OrdersArgs {
    /// Show this order alone: its items (ids, SKUs, what is left to ship) and packages.
    #[arg(value_name = "ORDER", conflicts_with_all = ["status", "late"],
          value_parser = crate::mws::ids::order_id_arg)]
    pub order: Option<String>,
    /// Only orders in this state, or with this Amazon status.
    #[arg(long, value_enum, value_name = "S", ignore_case = true)]
    pub status: Option<OrderStatusArg>,
    /// Only orders still to ship whose ship-by time has passed.
    #[arg(long)]
    pub late: bool,
    /// The order of the list (oldest first).
    #[arg(long, value_enum, value_name = "KEY", default_value = "ship-by")]
    pub sort: OrderSortArg,
    /// Only orders sold in this marketplace: Amazon's id (A1PA6795UKMFR9) or its country
    /// (DE).
    #[arg(long, value_name = "ID|COUNTRY", conflicts_with = "order",
          value_parser = crate::model::marketplace::marketplace_arg)]
    pub marketplace: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `orders --status`: a local lifecycle state (which also matches Amazon's status of the same
/// name), or one of Amazon's statuses that has no local state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OrderStatusArg {
    /// Amazon has not released it (no address yet).
    Pending,
    /// Ready to ship.
    Unshipped,
    /// A label was printed.
    Labelled,
    /// Some items are in recorded packages, not all.
    #[value(name = "partially_shipped", alias = "partially-shipped")]
    PartiallyShipped,
    /// Every item is in a recorded package.
    Shipped,
    /// Amazon accepted every package.
    Confirmed,
    /// Amazon refused a package.
    #[value(name = "confirm_failed", alias = "confirm-failed")]
    ConfirmFailed,
    /// Canceled by the buyer or Amazon.
    Canceled,
    /// Amazon: cannot be fulfilled.
    Unfulfillable,
    /// Amazon: the invoice is not confirmed yet.
    #[value(name = "invoice_unconfirmed", alias = "invoice-unconfirmed")]
    InvoiceUnconfirmed,
    /// Amazon: a pre-order not yet available.
    #[value(name = "pending_availability", alias = "pending-availability")]
    PendingAvailability,
}

/// `orders --sort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OrderSortArg {
    /// Ship-by time (Amazon's latest ship date), the most urgent first.
    ShipBy,
    /// Purchase date.
    Purchase,
    /// Local state, then ship-by.
    Status,
}

/// Label formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LabelFormat {
    /// Zebra ZPL II: the printer draws the barcode and Latin-1 text; other scripts are sent
    /// as images (CJK needs fonts-noto-cjk).
    Zpl,
    /// PDF, 4 x 6 in, embedded Noto fonts (any script; CJK needs fonts-noto-cjk).
    Pdf,
}

/// Label printer resolutions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DpiArg {
    /// 203 dpi (8 dots/mm).
    #[value(name = "203")]
    D203,
    /// 300 dpi (12 dots/mm).
    #[value(name = "300")]
    D300,
}

/// Where labels go (`label`, `buy`).
#[derive(Debug, Args)]
pub struct LabelOutput {
    /// Send to a printer: a raw TCP one, tcp://HOST:PORT (usually port 9100), or a queue of
    /// the local CUPS server, cups:QUEUE (CUPS_SERVER picks the server, as for lp).
    #[arg(long, value_name = "URI", conflicts_with = "out")]
    pub to: Option<String>,
    /// Write to FILE (0600; tracked and destroyed by `purge` with the order's PII).
    /// Default: one file per print job in the home's spool/.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Which orders a print job is for (`label`, `slip`): ids, or every order in a state.
#[derive(Debug, Args)]
pub struct OrderSelection {
    /// The Amazon order ids (all go in one print job).
    #[arg(
        value_name = "ORDER",
        value_parser = crate::mws::ids::order_id_arg,
        required_unless_present_any = ["all_unshipped", "status"],
        conflicts_with_all = ["all_unshipped", "status"]
    )]
    pub orders: Vec<String>,
    /// Every unshipped order (the same as --status unshipped).
    #[arg(long, conflicts_with = "status")]
    pub all_unshipped: bool,
    /// Every order in this state.
    #[arg(long, value_enum, value_name = "S")]
    pub status: Option<PickStatusArg>,
}

/// `fulfill label`.
#[derive(Debug, Args)]
pub struct LabelArgs {
    /// The orders.
    #[command(flatten)]
    pub select: OrderSelection,
    /// Label format.
    #[arg(long, value_enum, default_value = "zpl")]
    pub format: LabelFormat,
    /// Printer resolution, dots per inch.
    #[arg(long, value_enum, default_value = "203")]
    pub dpi: DpiArg,
    /// Where the labels go.
    #[command(flatten)]
    pub output: LabelOutput,
    /// Print what was done as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Packing slip paper sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SlipSize {
    /// 4 x 6 in, on the label printer's stock.
    #[value(name = "4x6")]
    Label4x6,
    /// US Letter, 8.5 x 11 in.
    Letter,
    /// ISO A4, 210 x 297 mm.
    A4,
}

/// `fulfill slip`.
#[derive(Debug, Args)]
pub struct SlipArgs {
    /// The orders.
    #[command(flatten)]
    pub select: OrderSelection,
    /// Paper size (a PDF with embedded Noto fonts: any script).
    #[arg(long, value_enum, default_value = "letter")]
    pub size: SlipSize,
    /// Where the slips go.
    #[command(flatten)]
    pub output: LabelOutput,
    /// Print what was done as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `fulfill station`.
#[derive(Debug, Args)]
pub struct StationArgs {
    /// Carrier for every shipment of the shift: one of Amazon's carrier codes, or Other with
    /// --carrier-name.
    #[arg(long, value_name = "C")]
    pub carrier: String,
    /// With --carrier Other: the carrier's name.
    #[arg(long, value_name = "NAME")]
    pub carrier_name: Option<String>,
    /// Take tracking numbers as scanned, for a carrier the tool has no rule for (each audit
    /// record says so).
    #[arg(long)]
    pub no_verify: bool,
    /// Shipping method for every shipment of the shift.
    #[arg(long, value_name = "M")]
    pub method: Option<String>,
    /// The label printer: tcp://HOST:PORT or cups:QUEUE (default: label files in the home's
    /// spool/).
    #[arg(long, value_name = "URI")]
    pub to: Option<String>,
    /// Printer resolution, dots per inch.
    #[arg(long, value_enum, default_value = "203")]
    pub dpi: DpiArg,
    /// Ask for the passphrase again after this many minutes without a scan.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..=480))]
    pub idle_minutes: u32,
    /// Scan-to-verify: after an order's label, scan each of its items (SKU, ASIN or item id
    /// barcode) until the order is complete, then its tracking number.
    #[arg(long)]
    pub verify: bool,
}

/// Delivery confirmation for a bought label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExperienceArg {
    /// Delivery confirmation without signature.
    NoSignature,
    /// Signature on delivery.
    Signature,
    /// Adult signature on delivery.
    AdultSignature,
    /// No tracking.
    NoTracking,
}

/// `fulfill buy`.
#[derive(Debug, Args)]
pub struct BuyArgs {
    /// The Amazon order id.
    #[arg(value_name = "ORDER", value_parser = crate::mws::ids::order_id_arg)]
    pub order: String,
    /// The package: LxWxH with in or cm (10x8x4in, 30x20x10cm), or a carrier box token.
    #[arg(long, value_name = "DIMS", required_unless_present = "cancel")]
    pub package: Option<String>,
    /// The weight: 12oz, 1.5lb, 800g or 1.2kg.
    #[arg(long, value_name = "W", required_unless_present = "cancel")]
    pub weight: Option<String>,
    /// Cancel the label bought for ORDER (Amazon refunds it unless the carrier scanned it).
    #[arg(long, conflicts_with_all = ["package", "weight", "service"])]
    pub cancel: bool,
    /// Buy this service (a ShippingServiceId from the quote); without it, only quote.
    #[arg(long, value_name = "ID")]
    pub service: Option<String>,
    /// Delivery confirmation.
    #[arg(long, value_enum, default_value = "no-signature")]
    pub experience: ExperienceArg,
    /// Where the label goes.
    #[command(flatten)]
    pub output: LabelOutput,
    /// Print the quote or the purchase as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `fulfill ship`.
#[derive(Debug, Args)]
pub struct ShipArgs {
    /// The Amazon order id.
    #[arg(value_name = "ORDER", value_parser = crate::mws::ids::order_id_arg)]
    pub order: String,
    /// Carrier: one of Amazon's carrier codes (USPS, UPS, FedEx, DHL, Royal Mail, ...), or
    /// Other with --carrier-name.
    #[arg(long, value_name = "C")]
    pub carrier: String,
    /// With --carrier Other: the carrier's name.
    #[arg(long, value_name = "NAME")]
    pub carrier_name: Option<String>,
    /// The carrier's tracking number (checked by the carrier's format and check digit).
    #[arg(long, value_name = "T")]
    pub tracking: String,
    /// Take the tracking number as given, for a carrier the tool has no rule for (the audit
    /// record says so).
    #[arg(long)]
    pub no_verify: bool,
    /// Shipping method (e.g. "Priority Mail").
    #[arg(long, value_name = "M")]
    pub method: Option<String>,
    /// Ship only this item, named by its SKU or its order item id, and quantity in this
    /// package (repeat for more items; `fulfill orders ORDER` lists them). Without it,
    /// everything left to ship.
    #[arg(long = "item", value_name = "ITEM:QTY")]
    pub items: Vec<crate::model::package::ItemArg>,
    /// Correct the carrier and tracking of package N of the order (one Amazon has not
    /// accepted yet) instead of shipping another.
    #[arg(long, value_name = "N", conflicts_with = "items",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub package: Option<u32>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `fulfill confirm`.
#[derive(Debug, Args)]
pub struct ConfirmArgs {
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `fulfill purge`.
#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// Show what would be purged; change nothing (the run is still recorded).
    #[arg(long)]
    pub dry_run: bool,
    /// Purge this shipped or canceled order's PII now (a buyer's deletion request).
    #[arg(long, value_name = "ID", value_parser = crate::mws::ids::order_id_arg)]
    pub order: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `fulfill audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Days of audit records to summarise (default: the profile's log window; 1 to 36500).
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub window: Option<u32>,
    /// Also scan these files or folders for PII (e.g. a Downloads folder); repeatable.
    #[arg(long, value_name = "PATH")]
    pub scan: Vec<PathBuf>,
    /// Check the chain heads the system log saw (an export such as `journalctl -t fulfill
    /// -o cat > FILE`): a log rolled back, even with its key file, disagrees with them.
    #[arg(long, value_name = "FILE")]
    pub anchors: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also write the report as one self-contained HTML page (matrix, log window strip,
    /// operators, PII-opening chart, findings; no PII, no script), mode 0600.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Also write the same report as a PDF (Letter), mode 0600.
    #[arg(long, value_name = "FILE")]
    pub pdf: Option<PathBuf>,
}

/// `fulfill config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Print the effective configuration and the policy profile.
    Show,
    /// Change one value: `retention.pii_days` or `log.max_days` (never looser than the profile).
    Set {
        /// The key.
        key: String,
        /// The new value.
        value: String,
    },
}

/// Policy profile: the retention and password numbers the home enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProfileArg {
    /// Amazon's MWS-era policy (2020): PII 30 days, logs 90 days.
    #[value(name = "mws-2020")]
    Mws2020,
    /// The current policy (2025): logs 12 months, password history of 10.
    #[value(name = "dpp-2025")]
    Dpp2025,
}

/// `fulfill init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The owner's operator name.
    #[arg(long, value_name = "NAME")]
    pub owner: String,
    /// Policy profile: the current policy (dpp-2025, which requires a second factor of every
    /// person), or the MWS-era one.
    #[arg(long, value_enum, default_value = "dpp-2025")]
    pub profile: ProfileArg,
    /// Mark the home as a sandbox home (talks only to a loopback sandbox; honours --now).
    #[arg(long)]
    pub sandbox: bool,
    /// The system logger's socket the audit chain's heads go to, or `off` (config
    /// `anchor.syslog`; default /dev/log).
    #[arg(long, value_name = "SOCKET|off")]
    pub anchor_syslog: Option<String>,
    /// A syslog collector on another host the heads also go to, out of this machine's
    /// operators' reach: tcp://HOST:PORT or tls://HOST:PORT (config `anchor.remote`).
    #[arg(long, value_name = "URL")]
    pub anchor_remote: Option<String>,
    /// The PEM file of the authority the collector's TLS certificate chains to (config
    /// `anchor.remote_ca`; default: the system's roots).
    #[arg(long, value_name = "FILE")]
    pub anchor_remote_ca: Option<PathBuf>,
    /// Keep the vault's rows in a PostgreSQL database shared by packing stations,
    /// postgres://[USER@]HOST[:PORT]/DATABASE (or postgres:///DATABASE?host=/SOCKET/DIR), instead
    /// of vault.db. Keys, the keyring, config, spool and logs stay in the home. TLS with a
    /// verified certificate is required except to loopback or a unix socket. Never put the
    /// password in the URL.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// A 0600 file whose first line is the store's password (default: PGPASSFILE, then
    /// ~/.pgpass, as libpq reads them).
    #[arg(long, value_name = "FILE", requires = "store")]
    pub store_password_file: Option<PathBuf>,
}

/// Roles an operator can have (the owner is made by `init`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// Picks items; never sees PII.
    Picker,
    /// Packs and ships; opens PII for labels.
    Packer,
    /// Cron service that fetches orders; seals PII, cannot open it.
    Fetcher,
    /// Manages people, credentials and config; no PII.
    Admin,
    /// Runs audits; scans PII for leaks, never shown.
    Auditor,
}

/// `fulfill operator ...`.
#[derive(Debug, Subcommand)]
pub enum OperatorCmd {
    /// Add an operator (owner or admin).
    Add {
        /// The new operator's name.
        name: String,
        /// Its role.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Read the new operator's passphrase from FILE (otherwise a prompt, asked twice).
        #[arg(long, value_name = "FILE", conflicts_with = "new_key_file")]
        new_passphrase_file: Option<PathBuf>,
        /// Write a fresh 32-byte key file (mode 0600) for a service operator instead.
        #[arg(long = "key-file", value_name = "PATH")]
        new_key_file: Option<PathBuf>,
    },
    /// List operators.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Disable an operator (owner or admin); its wrapped keys are destroyed.
    Disable {
        /// Operator name.
        name: String,
    },
    /// Change your own passphrase.
    Passwd {
        /// Read the new passphrase from FILE (otherwise a prompt, asked twice).
        #[arg(long, value_name = "FILE")]
        new_passphrase_file: Option<PathBuf>,
    },
    /// Unlock an operator locked after failed attempts (owner or admin).
    Unlock {
        /// Operator name.
        name: String,
    },
    /// Enrol a second factor (TOTP) for yourself: shows a QR code for an authenticator app,
    /// then asks for a code from it (required for people under dpp-2025).
    TotpEnroll {
        /// Read the confirming code from FILE (otherwise a prompt, or a line on stdin).
        #[arg(long, value_name = "FILE")]
        code_file: Option<PathBuf>,
    },
    /// Give an owner a new passphrase (and clear its lockout) with the recovery key `init`
    /// showed; needs no unlock.
    Recover {
        /// The owner's name.
        name: String,
        /// A file (mode 0600) holding the recovery key.
        #[arg(long, value_name = "FILE")]
        recovery_key_file: PathBuf,
        /// Read the new passphrase from FILE (otherwise a prompt, asked twice).
        #[arg(long, value_name = "FILE")]
        new_passphrase_file: Option<PathBuf>,
    },
}

/// `fulfill sandbox`.
#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Address to listen on (loopback only).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: String,
    /// Orders that exist when it starts.
    #[arg(long, default_value_t = 50)]
    pub orders: usize,
    /// Seed for the generated data and faults.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Run sandbox time (restore rates, feed delays, order arrival) X times faster.
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Faults to inject: a comma list of KIND=RATE (0..1 per request), KIND@N (the Nth request),
    /// KIND@N-M (a storm), skew=SECONDS (server clock offset), delay=SECONDS (for `slow`) and
    /// drip=SECONDS (between two body bytes of `trickle`, default 2).
    /// KIND: throttle, internal, slow, reset, truncate, malformed, corrupt-token, trickle,
    /// endless-token, repeat-token, refuse (a 400, not carried out).
    /// Reproducible from --seed. E.g. `throttle=0.1,internal@3,reset@7-9,skew=1200`.
    /// SP-API only: expired-token, tiny-rate (a 429 saying 1e-9 requests a second),
    /// absurd-numbers (a listing page with quantities of 1e20 and 4294967295).
    #[arg(long)]
    pub faults: Option<String>,
    /// Which Amazon API to serve: the Selling Partner API (LWA, Orders 2026-01-01,
    /// confirmShipment), or MWS.
    #[arg(long, value_enum, default_value_t = SandboxApi::SpApi)]
    pub api: SandboxApi,
    /// Also write the JSON line to FILE (0600, written whole once the sandbox listens), for
    /// `fulfill credentials set --from-sandbox FILE`.
    #[arg(long, value_name = "FILE")]
    pub line_file: Option<PathBuf>,
}

/// `fulfill sandbox --api`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SandboxApi {
    /// Amazon MWS (Orders 2013-09-01, Feeds, Merchant Fulfillment).
    Mws,
    /// The Selling Partner API.
    #[value(name = "sp-api")]
    SpApi,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
