"""The data contract: every source table Rapport reads, declared once.

The simulator writes these tables, ingestion checks every landing row against them, the dbt
sources file is generated from them and the Great Expectations raw suites are built from them, so
the four cannot drift apart.

Landing layout: ``<landing>/<table>/<table>_<YYYY-MM-DD>.csv`` (one file per source and day;
Parquet with the same stem is accepted too). Every landing column is text in CSV; ingestion casts.
Personal data (``pii="hash"``) is replaced at ingestion by ``<name>_hash`` (salted SHA-256), and
``pii="drop"`` columns never leave ingestion; quarantine keeps the same protection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["string", "integer", "decimal", "boolean", "date", "timestamp"]
PiiClass = Literal["none", "hash", "drop"]

# How each contract type is stored in the warehouse (raw.* and the dbt sources).
SQL_TYPES: dict[str, str] = {
    "string": "varchar",
    "integer": "bigint",
    "decimal": "double",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    description: str
    required: bool = True
    enum: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    pii: PiiClass = "none"
    references: str | None = None  # "table.column" this column must exist in

    @property
    def raw_name(self) -> str:
        """The column's name in ``raw.*`` (hashed personal fields get a ``_hash`` suffix)."""
        return f"{self.name}_hash" if self.pii == "hash" else self.name

    @property
    def in_raw(self) -> bool:
        return self.pii != "drop"


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    event_time: str | None = None  # the column that places a row in time (loaded-at for freshness)
    required: bool = False  # only customers and orders must be present
    version_column: str | None = None  # a later row with the same key and a newer version wins
    grain: str = field(default="")
    without: str = ""  # what the pipeline cannot do when this optional source is missing

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def raw_columns(self) -> list[Column]:
        return [c for c in self.columns if c.in_raw]


CHANNELS = ("web", "app", "store", "call_center")
CONTACT_CHANNELS = ("email", "sms", "push", "phone", "post")
CONSENT_PURPOSES = ("analytics", "profiling", "marketing")
LOYALTY_TIERS = ("bronze", "silver", "gold", "platinum")
OFFER_TYPES = (
    "discount",
    "free_shipping",
    "loyalty_upgrade",
    "cross_sell_bundle",
    "win_back",
    "community_invite",
)
PRODUCT_CATEGORIES = ("Tops", "Dresses", "Bottoms", "Intimate", "Jackets", "Trend")
PRIVACY_CHANNELS = ("web", "app", "email", "call_center", "post")

_CUSTOMER_FK = "customers.customer_id"


def _customer_id(required: bool = True, description: str = "The customer this row belongs to.") -> Column:
    return Column("customer_id", "string", description, required=required, references=_CUSTOMER_FK)


TABLES: tuple[Table, ...] = (
    Table(
        name="customers",
        description="One row per registered customer (latest version wins).",
        key=("customer_id",),
        event_time="updated_at",
        required=True,
        version_column="updated_at",
        columns=(
            Column("customer_id", "string", "Customer id, stable across sources."),
            Column("email", "string", "Email address.", pii="hash"),
            Column("phone", "string", "Phone number (E.164).", required=False, pii="hash"),
            Column("first_name", "string", "Given name.", required=False, pii="drop"),
            Column("last_name", "string", "Family name.", required=False, pii="drop"),
            Column("street_address", "string", "Street and number.", required=False, pii="drop"),
            Column("postal_code", "string", "Postal code (area only).", required=False),
            Column("birth_year", "integer", "Year of birth.", required=False, min=1900, max=2015),
            Column(
                "gender", "string", "Self-declared gender.", required=False, enum=("female", "male", "other", "unknown")
            ),
            Column("signup_at", "timestamp", "When the customer registered (UTC)."),
            Column("signup_channel", "string", "Where the customer registered.", enum=CHANNELS),
            Column("loyalty_card_id", "string", "Loyalty card number, scanned in stores.", required=False),
            Column("updated_at", "timestamp", "When this version of the record was written (UTC)."),
        ),
    ),
    Table(
        name="consents",
        description="Consent events per customer, purpose and channel; the latest per (customer, purpose, channel) holds.",
        key=("consent_id",),
        event_time="recorded_at",
        without="consent state per purpose and channel: nobody counts as consenting, so consent-gated scores and offers are withheld",
        columns=(
            Column("consent_id", "string", "Consent event id."),
            _customer_id(),
            Column("purpose", "string", "What the data may be used for.", enum=CONSENT_PURPOSES),
            Column(
                "channel",
                "string",
                "Contact channel the consent covers ('all' for non-contact purposes).",
                enum=(*CONTACT_CHANNELS, "all"),
            ),
            Column("is_granted", "boolean", "True when granted, false when withdrawn."),
            Column("recorded_at", "timestamp", "When the customer gave or withdrew consent (UTC)."),
        ),
    ),
    Table(
        name="products",
        description="Product catalog.",
        key=("product_id",),
        event_time="updated_at",
        version_column="updated_at",
        without="product names and categories of order lines and reviews",
        columns=(
            Column("product_id", "string", "Product id."),
            Column("product_name", "string", "Display name."),
            Column("category", "string", "Department.", enum=PRODUCT_CATEGORIES),
            Column("list_price", "decimal", "Price before discounts.", min=0),
            Column("margin_rate", "decimal", "Gross margin as a share of price.", min=0, max=1),
            Column("updated_at", "timestamp", "When this version was written (UTC)."),
        ),
    ),
    Table(
        name="orders",
        description="One row per order; a corrected order arrives again with a newer updated_at.",
        key=("order_id",),
        event_time="ordered_at",
        required=True,
        version_column="updated_at",
        columns=(
            Column("order_id", "string", "Order id."),
            _customer_id(),
            Column("ordered_at", "timestamp", "When the order was placed (UTC)."),
            Column("channel", "string", "Where the order was placed.", enum=CHANNELS),
            Column("store_id", "string", "Store for in-store orders.", required=False),
            Column("order_total", "decimal", "Amount paid after discounts.", min=0),
            Column("discount_amount", "decimal", "Discount granted.", min=0),
            Column("status", "string", "Order status.", enum=("completed", "returned", "cancelled")),
            Column(
                "offer_id", "string", "Offer redeemed with this order.", required=False, references="offers.offer_id"
            ),
            Column("updated_at", "timestamp", "When this version was written (UTC)."),
        ),
    ),
    Table(
        name="order_items",
        description="One row per order line.",
        key=("order_item_id",),
        event_time="ordered_at",
        without="basket features (lines, units, categories bought)",
        columns=(
            Column("order_item_id", "string", "Order line id."),
            Column("order_id", "string", "Order this line belongs to.", references="orders.order_id"),
            Column("product_id", "string", "Product bought.", references="products.product_id"),
            Column("quantity", "integer", "Units.", min=1, max=1000),
            Column("unit_price", "decimal", "Price paid per unit.", min=0),
            Column("ordered_at", "timestamp", "When the order was placed (UTC)."),
        ),
    ),
    Table(
        name="web_events",
        description="Website events; anonymous until the visitor logs in.",
        key=("event_id",),
        event_time="occurred_at",
        without="website engagement features (sessions, product views, carts)",
        columns=(
            Column("event_id", "string", "Event id."),
            Column("device_id", "string", "Browser cookie id."),
            _customer_id(required=False, description="Set once the visitor has logged in."),
            Column(
                "event_type",
                "string",
                "What happened.",
                enum=("page_view", "product_view", "add_to_cart", "search", "login", "content_view"),
            ),
            Column("product_id", "string", "Product concerned.", required=False),
            Column("occurred_at", "timestamp", "When (UTC)."),
        ),
    ),
    Table(
        name="app_events",
        description="Mobile app events; anonymous until the user logs in.",
        key=("event_id",),
        event_time="occurred_at",
        without="app engagement features (sessions, push opens)",
        columns=(
            Column("event_id", "string", "Event id."),
            Column("device_id", "string", "App installation id."),
            _customer_id(required=False, description="Set once the user has logged in."),
            Column("platform", "string", "Mobile platform.", enum=("ios", "android")),
            Column(
                "event_type",
                "string",
                "What happened.",
                enum=("screen_view", "product_view", "add_to_cart", "search", "login", "push_open"),
            ),
            Column("product_id", "string", "Product concerned.", required=False),
            Column("occurred_at", "timestamp", "When (UTC)."),
        ),
    ),
    Table(
        name="store_visits",
        description="Store visits recognised by a scanned loyalty card.",
        key=("visit_id",),
        event_time="visited_at",
        without="store visit features",
        columns=(
            Column("visit_id", "string", "Visit id."),
            Column("loyalty_card_id", "string", "Card scanned at the till or the door."),
            Column("store_id", "string", "Store."),
            Column("visited_at", "timestamp", "When (UTC)."),
            Column("dwell_minutes", "integer", "Time spent in store.", required=False, min=0, max=600),
        ),
    ),
    Table(
        name="call_center_contacts",
        description="Calls and chats with the contact center, matched to customers by phone number.",
        key=("contact_id",),
        event_time="contacted_at",
        without="contact-center features (complaints, cancellations)",
        columns=(
            Column("contact_id", "string", "Contact id."),
            Column("phone", "string", "Caller's phone number (E.164).", pii="hash"),
            Column("contacted_at", "timestamp", "When (UTC)."),
            Column(
                "reason",
                "string",
                "Why the customer called.",
                enum=("question", "order_issue", "complaint", "return", "cancellation"),
            ),
            Column("is_resolved", "boolean", "Resolved in the first contact."),
            Column("handle_seconds", "integer", "Handling time.", min=0, max=36000),
        ),
    ),
    Table(
        name="interactions",
        description="Email, SMS and social interactions with the brand's messages.",
        key=("interaction_id",),
        event_time="occurred_at",
        without="message engagement (opens, clicks, unsubscribes) in the engagement index",
        columns=(
            Column("interaction_id", "string", "Interaction id."),
            _customer_id(),
            Column("channel", "string", "Channel.", enum=("email", "sms", "social")),
            Column(
                "interaction_type",
                "string",
                "What happened.",
                enum=("sent", "opened", "clicked", "unsubscribed", "liked", "shared", "commented"),
            ),
            Column("campaign_id", "string", "Campaign that sent the message.", required=False),
            Column("occurred_at", "timestamp", "When (UTC)."),
        ),
    ),
    Table(
        name="community_activity",
        description="Posts, comments, likes and event attendance in the brand community.",
        key=("activity_id",),
        event_time="occurred_at",
        without="community activity in the relationship engagement index",
        columns=(
            Column("activity_id", "string", "Activity id."),
            _customer_id(),
            Column(
                "activity_type", "string", "What the member did.", enum=("post", "comment", "like", "event_attendance")
            ),
            Column("occurred_at", "timestamp", "When (UTC)."),
        ),
    ),
    Table(
        name="offers",
        description="Offer catalog.",
        key=("offer_id",),
        event_time="updated_at",
        version_column="updated_at",
        without="next-best-offer training and recommendations (the offer catalog)",
        columns=(
            Column("offer_id", "string", "Offer id."),
            Column("offer_type", "string", "Kind of offer.", enum=OFFER_TYPES),
            Column("channel", "string", "Channel the offer is sent on.", enum=("email", "sms", "push")),
            Column("unit_cost", "decimal", "Expected cost per redemption.", min=0),
            Column("description", "string", "What the customer gets."),
            Column("updated_at", "timestamp", "When this version was written (UTC)."),
        ),
    ),
    Table(
        name="campaigns",
        description="Marketing campaigns; each sends one offer with a randomised control group.",
        key=("campaign_id",),
        event_time="started_at",
        without="next-best-offer training (campaigns with control groups)",
        columns=(
            Column("campaign_id", "string", "Campaign id."),
            Column("offer_id", "string", "Offer the campaign sends.", references="offers.offer_id"),
            Column("campaign_name", "string", "Name."),
            Column("started_at", "timestamp", "Send date (UTC)."),
            Column("control_share", "decimal", "Share of targeted customers held out at random.", min=0, max=1),
        ),
    ),
    Table(
        name="offer_responses",
        description="One row per customer targeted by a campaign: treatment or control, and whether they responded.",
        key=("assignment_id",),
        event_time="sent_at",
        without="next-best-offer training and uplift (treatment and control responses)",
        columns=(
            Column("assignment_id", "string", "Assignment id."),
            Column("campaign_id", "string", "Campaign.", references="campaigns.campaign_id"),
            _customer_id(),
            Column("offer_id", "string", "Offer.", references="offers.offer_id"),
            Column("assignment_group", "string", "Randomised group.", enum=("treatment", "control")),
            Column("sent_at", "timestamp", "When the offer was sent, or would have been for control (UTC)."),
            Column("has_responded", "boolean", "Purchased within the response window."),
            Column("responded_at", "timestamp", "When the response happened.", required=False),
        ),
    ),
    Table(
        name="nps_surveys",
        description="Net Promoter Score survey answers.",
        key=("survey_id",),
        event_time="answered_at",
        without="NPS per segment and NPS features",
        columns=(
            Column("survey_id", "string", "Survey answer id."),
            _customer_id(),
            Column("answered_at", "timestamp", "When (UTC)."),
            Column("score", "integer", "Likelihood to recommend, 0-10.", min=0, max=10),
        ),
    ),
    Table(
        name="reviews",
        description="Product reviews written by customers.",
        key=("review_id",),
        event_time="reviewed_at",
        without="review sentiment and aspect scoring",
        columns=(
            Column("review_id", "string", "Review id."),
            _customer_id(),
            Column("product_id", "string", "Product reviewed.", references="products.product_id"),
            Column("reviewed_at", "timestamp", "When (UTC)."),
            Column("rating", "integer", "Stars, 1-5.", min=1, max=5),
            Column("title", "string", "Review title.", required=False),
            Column("review_text", "string", "Review body."),
        ),
    ),
    Table(
        name="loyalty_tiers",
        description="Loyalty tier changes; a customer's tier is the latest row before a date.",
        key=("customer_id", "valid_from"),
        event_time="valid_from",
        without="loyalty tiers in the customer 360",
        columns=(
            _customer_id(),
            Column("tier", "string", "Tier.", enum=LOYALTY_TIERS),
            Column("valid_from", "timestamp", "When the tier took effect (UTC)."),
            Column("points_balance", "integer", "Points at the change.", min=0),
        ),
    ),
    Table(
        name="deletion_requests",
        description="Requests to be forgotten (right to erasure); the customer may already be gone, so "
        "customer_id has no foreign key to customers.",
        key=("request_id",),
        event_time="requested_at",
        without="erasure requests: apply_deletion_requests has nothing to act on",
        columns=(
            Column("request_id", "string", "Request id."),
            Column("customer_id", "string", "The customer to forget (possibly already forgotten)."),
            Column("requested_at", "timestamp", "When the request was received (UTC)."),
            Column("channel", "string", "Where the request came in.", enum=PRIVACY_CHANNELS),
        ),
    ),
)

TABLES_BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}


def missing_source_effects(present: set[str] | frozenset[str]) -> dict[str, str]:
    """For each declared source not in ``present``: what is lost without it (required sources say so)."""
    return {
        t.name: "required: nothing can be built without it" if t.required else f"no {t.without}"
        for t in TABLES
        if t.name not in present
    }


def get_table(name: str) -> Table:
    try:
        return TABLES_BY_NAME[name]
    except KeyError:
        known = ", ".join(sorted(TABLES_BY_NAME))
        raise KeyError(f"unknown source table {name!r}; the contract declares: {known}") from None
