#!/usr/bin/env python3
"""Generate RuleKit's deterministic demo dataset.

Writes two files next to this script:

* ``demo-events.jsonl``: about 3,000 billing events (SPEC section 2) for three tenants
  between 2026-08-01 and 2026-11-30:

  - ``gym-chain``  America/New_York, evaluation hour 6, USD, 150 customers
  - ``saas-eu``    Europe/Berlin,    evaluation hour 7, EUR, 100 customers
  - ``studio-nz``  Pacific/Auckland, evaluation hour 5, NZD,  50 customers

  Every customer has a ``customer.updated`` profile (tenure, metadata, tags), a subscription
  (``active`` or ``trialing``), and a monthly charge on a billing day (``balance.changed``, whose
  ``amount_minor`` is the absolute balance after the change; negative means the customer owes).
  Customers then follow one behaviour: most pay within a few days; others pay late, pay in part,
  stop paying, cancel while still owing, pause and resume their subscription, hold a credit,
  start with an old debt, have a payment that is reported days late, or pay at the very last
  moment (the day before the first threshold, or on the threshold day just before or just after
  the tenant's evaluation hour). About 5% of the events arrive late (``received_at`` 1 hour to
  10 days after ``occurred_at``), a few lines are exact duplicates, and the file order is
  shuffled in small blocks: neither changes RuleKit's results.

  Profiles come as other systems write them (SPEC section 8.7): the plan under several keys,
  values in any case, padded or named by a synonym, camelCase keys (``messy``).

* ``demo-automations.json``: the three tenants' settings, with the normalization rules that
  clean those profiles, and six automations (SPEC section 4).

* ``playbooks/aging-ladder.events.jsonl``: the same events plus what collections teams record
  (SPEC section 8.1): promises to pay, kept (the customer pays before ``until``) and broken (the
  customer still owes after it), and disputes opened and closed, for customers of gym-chain and
  saas-eu with long past-due episodes. The demo's own file is unchanged by them.

* ``playbooks/dunning.events.jsonl``: saas-eu's events plus the payment failures behind its
  past-due spells (SPEC section 8.1): each spell's charge is an invoice whose first payment failed
  with a decline code (insufficient funds and other soft declines most often, expired cards and
  authentication, a few stolen or lost cards and an issuer's "do not try again" advice), failed
  again on the billing system's own retries while the spell lasts (once switching from
  insufficient funds to a stolen card), and was paid when the spell ended (a few are voided
  instead). One failure is reported two days late.

* ``playbooks/cancellation-hold.events.jsonl``: gym-chain's events plus requests to cancel
  (SPEC section 8.6) from members in good standing: each with a reason and the end of its paid
  period (the next billing date), answered by withdrawing (most often by accepting the offer
  made), by insisting, or not at all (the billing system then cancels at the hold's end). A few
  take effect at once, one member asks twice in one hold, one asks again after a hold ended,
  one asks two days before the paid period ends, and one request is reported a day late.

The simulation window 2026-09-01..2026-11-30 crosses the daylight-saving changes of all three
zones (NZ starts 2026-09-27, EU ends 2026-10-25, US ends 2026-11-01).

Run it with Python 3.11 or later, standard library only (time zones come from ``zoneinfo``,
which reads the system's tz database):

    python3 examples/generate_demo.py

The output is a function of the seed alone (``random.Random(2026)``): running it twice gives
byte-identical files.
"""

from __future__ import annotations

import json
import random
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

SEED = 2026
HERE = Path(__file__).resolve().parent
EVENTS_FILE = HERE / "demo-events.jsonl"
AUTOMATIONS_FILE = HERE / "demo-automations.json"
PLAYBOOK_EVENTS_FILE = HERE / "playbooks" / "aging-ladder.events.jsonl"
DUNNING_EVENTS_FILE = HERE / "playbooks" / "dunning.events.jsonl"
HOLD_EVENTS_FILE = HERE / "playbooks" / "cancellation-hold.events.jsonl"

UTC = timezone.utc
FIRST_DAY = date(2026, 8, 1)
LAST_DAY = date(2026, 11, 30)
FIRST_INSTANT = datetime(2026, 8, 1, tzinfo=UTC)
LAST_INSTANT = datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC)
BILLING_MONTHS = (8, 9, 10, 11)

TENANTS = [
    {
        "tenant_id": "gym-chain",
        "timezone": "America/New_York",
        "evaluation_hour": 6,
        "currency": "USD",
        "customers": 150,
        "first_threshold": 14,
        "charge_hours": (0, 1),  # the nightly billing run, local time (crosses the US DST change)
        "plans": [("basic", 2900, 6), ("gold", 4900, 3), ("platinum", 8900, 1)],
        # What other systems call a plan: the normalization rules map them back.
        "plan_synonyms": {"premium": "gold", "prem": "gold", "plat": "platinum"},
        "regions": ["ny-manhattan", "ny-brooklyn", "nj-hoboken", "ct-stamford"],
        "extra_key": "home_club",
        "extra_values": ["club-01", "club-02", "club-03", "club-04", "club-05", "club-06"],
        "tags": [("vip", 0.08), ("corporate", 0.10), ("student", 0.12)],
    },
    {
        "tenant_id": "saas-eu",
        "timezone": "Europe/Berlin",
        "evaluation_hour": 7,
        "currency": "EUR",
        "customers": 100,
        "first_threshold": 14,
        "charge_hours": (2, 4),
        "plans": [("starter", 4900, 5), ("pro", 14900, 4), ("enterprise", 49900, 1)],
        "plan_synonyms": {"professional": "pro", "ent": "enterprise"},
        "regions": ["de", "at", "fr", "nl", "es", "it"],
        "extra_key": "billing_contact",
        "extra_values": ["finance", "owner", "it"],
        "tags": [("vip", 0.10), ("annual-review", 0.15)],
    },
    {
        "tenant_id": "studio-nz",
        "timezone": "Pacific/Auckland",
        "evaluation_hour": 5,
        "currency": "NZD",
        "customers": 50,
        "first_threshold": 7,
        "charge_hours": (3, 4),  # 03:xx local is the previous day in UTC
        "plans": [("casual", 3500, 3), ("unlimited", 6500, 2)],
        "plan_synonyms": {"unltd": "unlimited"},
        "regions": ["auckland", "wellington", "christchurch"],
        "extra_key": "studio",
        "extra_values": ["ponsonby", "kingsland", "te-aro"],
        "tags": [("vip", 0.06), ("staff", 0.08)],
    },
]

# Behaviours and their weights (percent of a tenant's customers).
BEHAVIOURS = [
    ("prompt", 43),           # pays in full within 0-5 days
    ("late", 13),             # pays each charge 10-40 days late, sometimes on time
    ("partial", 8),           # pays part of each charge; the balance stays negative
    ("never", 8),             # stops paying at some cycle; subscription goes past_due / unpaid
    ("last_moment", 8),       # pays one charge on day T-1, or on day T just before/after the run
    ("cancel", 5),            # stops paying, then cancels the subscription while still owing
    ("paused", 5),            # misses a charge, pauses around day T-3, resumes a few days later
    ("credit", 5),            # receives a credit (refund, goodwill), balance goes positive
    ("reported_late", 3),     # pays before day T, but the payment is reported after day T's run
    ("opening_debt", 2),      # already owes on 2026-08-01, settles in Sep/Oct
]

FIRST_NAMES = ["ana", "ben", "chloe", "dev", "eli", "fatima", "gus", "hana", "ivan", "jade",
               "kai", "lena", "mo", "nina", "omar", "pia", "quinn", "rosa", "sam", "tara"]


def at_local(tz: ZoneInfo, day: date, hour: int, minute: int, second: int = 0) -> datetime:
    """The UTC instant of a local wall-clock time (fold=0 for ambiguous times)."""
    return datetime.combine(day, time(hour, minute, second), tzinfo=tz).astimezone(UTC)


def local_date(tz: ZoneInfo, instant: datetime) -> date:
    return instant.astimezone(tz).date()


def rfc3339(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def weighted(rng: random.Random, items):
    total = sum(w for *_, w in items)
    x = rng.randrange(total)
    for item in items:
        x -= item[-1]
        if x < 0:
            return item
    raise AssertionError("unreachable")


class Customer:
    """Builds one customer's events. Balance changes are collected as operations and resolved in
    time order at the end, so every event carries the correct absolute balance."""

    def __init__(self, rng: random.Random, tenant: dict, index: int, behaviour: str):
        self.rng = rng
        self.tenant = tenant
        self.tz = ZoneInfo(tenant["timezone"])
        self.tid = tenant["tenant_id"]
        self.cid = f"{self.tid}-cus-{index:04d}"
        self.sub_id = f"{self.tid}-sub-{index:04d}"
        self.behaviour = behaviour
        self.events: list[dict] = []
        # (instant, order, kind, value, late_by); kinds: charge, pay_full, pay_amount, credit,
        # opening
        self.ops: list[tuple] = []
        self.threshold = tenant["first_threshold"]

    # -- helpers -------------------------------------------------------------------------------

    def daytime(self, day: date) -> datetime:
        """A business-hours instant on a local date."""
        return at_local(self.tz, day, self.rng.randint(8, 21), self.rng.randrange(60),
                        self.rng.randrange(60))

    def add(self, instant: datetime, kind: str, payload: dict, late_by: timedelta | None = None):
        self.events.append({"occurred": instant, "type": kind, "payload": payload,
                            "late_by": late_by})

    def subscription(self, instant: datetime, status: str, sub_id: str | None = None,
                     late_by: timedelta | None = None):
        self.add(instant, "subscription.updated", {"id": sub_id or self.sub_id, "status": status},
                 late_by)

    def op(self, instant: datetime, kind: str, value: int = 0, late_by: timedelta | None = None):
        self.ops.append((instant, len(self.ops), kind, value, late_by))

    # -- the customer's story ------------------------------------------------------------------

    def build(self) -> list[dict]:
        rng, t = self.rng, self.tenant
        plan, price, _ = weighted(rng, t["plans"])
        self.price = price

        # Who they are. About 8% join during the period (short tenure); the rest joined
        # between 2019 and mid-2026.
        if rng.random() < 0.08:
            join_day = FIRST_DAY + timedelta(days=rng.randrange(0, 45))
            start = self.daytime(join_day)
            created_at = start - timedelta(minutes=rng.randint(1, 30))
        else:
            join_day = FIRST_DAY
            start = FIRST_INSTANT + timedelta(minutes=rng.randrange(60), seconds=rng.randrange(60))
            created_at = datetime(2019, 1, 1, tzinfo=UTC) + timedelta(
                seconds=rng.randrange(int((datetime(2026, 7, 15, tzinfo=UTC)
                                           - datetime(2019, 1, 1, tzinfo=UTC)).total_seconds())))
        metadata = {"plan": plan}
        if not (self.tid == "saas-eu" and rng.random() < 0.12):  # some EU accounts lack a region
            metadata["region"] = rng.choice(t["regions"])
        metadata[t["extra_key"]] = rng.choice(t["extra_values"])
        metadata["contact"] = f"{rng.choice(FIRST_NAMES)}.{index_suffix(self.cid)}"
        tags = [name for name, p in t["tags"] if rng.random() < p]
        self.start = start
        created = created_at.replace(microsecond=0)
        self.add(start, "customer.updated",
                 {"created_at": rfc3339(created), "metadata": dict(metadata), "tags": list(tags)})

        # The subscription: 12% start with a 14-day trial, billed from its end.
        trial = rng.random() < 0.12
        self.subscription(start + timedelta(seconds=5), "trialing" if trial else "active")
        billing_from = join_day + timedelta(days=14 if trial else 0)
        if trial:
            self.subscription(self.daytime(billing_from), "active")
        if self.tid == "saas-eu" and rng.random() < 0.15:  # an add-on subscription
            self.subscription(start + timedelta(seconds=9), "active", f"{self.sub_id}-addon")

        # Charges on the billing day of each month.
        billing_day = rng.randint(1, 28)
        self.charges = []
        for month in BILLING_MONTHS:
            day = date(2026, month, billing_day)
            if day < billing_from:
                continue
            lo, hi = t["charge_hours"]
            charge = at_local(self.tz, day, rng.randint(lo, hi), rng.randrange(60),
                              rng.randrange(60))
            if charge > start + timedelta(minutes=5):  # billing starts after sign-up
                self.charges.append(charge)

        getattr(self, f"story_{self.behaviour}")()

        # A profile update for some: an upgrade, or a new tag (always the full profile).
        if rng.random() < 0.07:
            when = self.daytime(FIRST_DAY + timedelta(days=rng.randrange(20, 110)))
            new_meta = dict(metadata)
            new_tags = list(tags)
            if rng.random() < 0.5:
                new_meta["plan"] = t["plans"][-1][0]
            elif "vip" not in new_tags:
                new_tags.append("vip")
            self.add(when, "customer.updated",
                     {"created_at": rfc3339(created), "metadata": new_meta, "tags": new_tags})

        self.resolve_balances()
        # The dataset covers 2026-08-01T00:00:00Z..2026-11-30T23:59:59Z.
        return [e for e in self.events if FIRST_INSTANT <= e["occurred"] <= LAST_INSTANT]

    def pay_promptly(self, charge: datetime):
        day = local_date(self.tz, charge) + timedelta(days=self.rng.choice([0, 0, 1, 1, 2, 3, 5]))
        self.op(self.daytime(day), "pay_full")

    def charge(self, instant: datetime, late_by: timedelta | None = None):
        self.op(instant, "charge", self.price, late_by)

    def target_cycle(self) -> int:
        """A charge whose first threshold falls inside the simulation window."""
        candidates = [i for i, c in enumerate(self.charges)
                      if date(2026, 8, 20) <= local_date(self.tz, c) <= date(2026, 11, 5)]
        return self.rng.choice(candidates) if candidates else len(self.charges) - 1

    def story_prompt(self):
        for c in self.charges:
            self.charge(c)
            self.pay_promptly(c)

    def story_late(self):
        for c in self.charges:
            self.charge(c)
            if self.rng.random() < 0.2:
                self.pay_promptly(c)
            else:
                day = local_date(self.tz, c) + timedelta(days=self.rng.randint(10, 40))
                if day <= LAST_DAY:
                    self.op(self.daytime(day), "pay_amount", self.price)

    def story_partial(self):
        for c in self.charges:
            self.charge(c)
            s = local_date(self.tz, c)
            part = self.price * self.rng.choice([30, 40, 50, 60, 70]) // 100
            self.op(self.daytime(s + timedelta(days=self.rng.randint(2, 10))), "pay_amount", part)
            if self.rng.random() < 0.3:
                day = s + timedelta(days=self.rng.randint(20, 35))
                if day <= LAST_DAY:
                    self.op(self.daytime(day), "pay_amount", self.price - part)

    def story_never(self):
        stop = self.rng.randint(0, min(1, max(0, len(self.charges) - 1)))
        unpaid = self.rng.random() < 0.3
        for i, c in enumerate(self.charges):
            if i < stop:
                self.charge(c)
                self.pay_promptly(c)
                continue
            if i == stop:
                s = local_date(self.tz, c)
                self.subscription(self.daytime(s + timedelta(days=3)), "past_due")
                if unpaid:
                    end = self.daytime(s + timedelta(days=self.rng.randint(33, 45)))
                    self.subscription(end, "unpaid")
                    self.charges = [x for x in self.charges if x < end]
            if c in self.charges:
                self.charge(c)

    def story_last_moment(self):
        target = self.target_cycle()
        hour = self.tenant["evaluation_hour"]
        for i, c in enumerate(self.charges):
            self.charge(c)
            if i != target:
                self.pay_promptly(c)
                continue
            s = local_date(self.tz, c)
            t_day = s + timedelta(days=self.threshold)
            variant = self.rng.choice(["day_before", "before_run", "after_run"])
            if variant == "day_before":
                when = self.daytime(t_day - timedelta(days=1))
            elif variant == "before_run":  # paid minutes before the run: no firing
                when = at_local(self.tz, t_day, hour - 1, self.rng.randint(0, 58),
                                self.rng.randrange(60))
            else:  # paid hours after the run: the threshold fired that morning
                when = at_local(self.tz, t_day, hour + self.rng.randint(1, 3),
                                self.rng.randrange(60), self.rng.randrange(60))
            self.op(when, "pay_full")

    def story_cancel(self):
        stop = self.rng.randint(0, min(1, max(0, len(self.charges) - 1)))
        for i, c in enumerate(self.charges):
            self.charge(c)
            if i < stop:
                self.pay_promptly(c)
                continue
            s = local_date(self.tz, c)
            end = self.daytime(s + timedelta(days=self.rng.randint(5, 25)))
            self.subscription(end, "canceled")
            break

    def story_paused(self):
        target = self.target_cycle()
        for i, c in enumerate(self.charges):
            self.charge(c)
            if i != target:
                self.pay_promptly(c)
                continue
            s = local_date(self.tz, c)
            t = self.threshold
            self.subscription(self.daytime(s + timedelta(days=t - self.rng.randint(2, 4))),
                              "paused")
            # Resumed within the catch-up window (fires late) or after it (missed window).
            resume_day = s + timedelta(days=t + self.rng.choice([0, 1, 2, 2, 5]))
            late_by = timedelta(hours=self.rng.randint(2, 30)) if self.rng.random() < 0.4 else None
            self.subscription(self.daytime(resume_day), "active", late_by=late_by)
            self.op(self.daytime(s + timedelta(days=t + self.rng.randint(8, 12))), "pay_full")

    def story_credit(self):
        credit_at = self.rng.randrange(len(self.charges)) if self.charges else 0
        for i, c in enumerate(self.charges):
            self.charge(c)
            self.pay_promptly(c)
            if i == credit_at:
                day = local_date(self.tz, c) + timedelta(days=self.rng.randint(8, 15))
                amount = self.price * self.rng.choice([50, 100, 150, 250]) // 100
                self.op(self.daytime(day), "credit", amount)

    def story_reported_late(self):
        target = self.target_cycle()
        t = self.threshold
        for i, c in enumerate(self.charges):
            self.charge(c)
            if i != target:
                self.pay_promptly(c)
                continue
            s = local_date(self.tz, c)
            paid = self.daytime(s + timedelta(days=t - self.rng.randint(1, 4)))
            reported = at_local(self.tz, s + timedelta(days=t + self.rng.randint(0, 2)),
                                self.tenant["evaluation_hour"] + 2, self.rng.randrange(60))
            self.op(paid, "pay_full", late_by=reported - paid)

    def story_opening_debt(self):
        self.op(self.start + timedelta(seconds=10), "opening", -self.price * self.rng.randint(1, 3))
        settle = self.daytime(date(2026, 9, 5) + timedelta(days=self.rng.randrange(45)))
        self.op(settle, "pay_full")
        for c in self.charges:
            self.charge(c)
            if c > settle:
                self.pay_promptly(c)

    def resolve_balances(self):
        """Turn the operations into balance.changed events with absolute balances."""
        currency = self.tenant["currency"]
        balance = 0
        for instant, _, kind, value, late_by in sorted(self.ops, key=lambda o: (o[0], o[1])):
            if not FIRST_INSTANT <= instant <= LAST_INSTANT:
                continue
            if kind == "charge":
                delta = -value
            elif kind == "opening":
                delta = value - balance
            elif kind == "pay_full":
                delta = -balance
            elif kind == "pay_amount":
                delta = min(value, -balance)
            else:  # credit
                delta = value
            if delta == 0 or (kind.startswith("pay") and balance >= 0):
                continue
            balance += delta
            payload = {"amount_minor": balance, "currency": currency}
            if self.rng.random() < 0.5:
                payload["delta_minor"] = delta
            self.add(instant, "balance.changed", payload, late_by)


def index_suffix(cid: str) -> str:
    return cid.rsplit("-", 1)[1]


def automations() -> dict:
    return {
        "tenants": [{"tenant_id": t["tenant_id"], "timezone": t["timezone"],
                     "evaluation_hour": t["evaluation_hour"],
                     "normalization": normalization(t)} for t in TENANTS],
        "automations": [
            {
                "id": "gym-past-due-14-30",
                "tenant_id": "gym-chain",
                "name": "Past due 14/30: tell finance (a quarter held out to measure it)",
                "enabled": True,
                "mode": "live",
                "trigger": {"type": "past_due", "thresholds_days": [14, 30],
                            "require_active_subscription": True,
                            "continuity": "negative_balance", "catch_up_days": 3},
                "conditions": [{"field": "balance.amount_minor", "op": "lte", "value": -1000}],
                "actions": [{"type": "notify", "channel": "finance"}],
                # SPEC §8.8: a random quarter of the customers is left alone, so the weekly
                # review can compare recoveries with and without the step.
                "rollout": {"cohort_percent": 75, "holdout_percent": 25},
            },
            {
                "id": "gym-strict-dry-run",
                "tenant_id": "gym-chain",
                "name": "Strict reading (no improvement), members of 90+ days: preview only",
                "enabled": True,
                "mode": "dry_run",
                "trigger": {"type": "past_due", "thresholds_days": [14, 30],
                            "require_active_subscription": True,
                            "continuity": "no_improvement", "catch_up_days": 3},
                "conditions": [{"field": "customer.tenure_days", "op": "gte", "value": 90},
                               {"field": "customer.tags", "op": "not_contains", "value": "vip"}],
                "actions": [{"type": "notify", "channel": "finance"},
                            {"type": "message", "template_id": "gym-past-due-reminder",
                             "variables": {"brand": "Gym Chain", "support_phone": "+1-212-555-0100"}}],
            },
            {
                "id": "gym-gold-call-14",
                "tenant_id": "gym-chain",
                "name": "Gold members past due 14 days: the club manager calls",
                "enabled": True,
                "mode": "live",
                "trigger": {"type": "past_due", "thresholds_days": [14],
                            "require_active_subscription": True,
                            "continuity": "negative_balance", "catch_up_days": 3},
                # Read from the normalized profile: raw, the plan is under six keys and
                # spelled a dozen ways.
                "conditions": [{"field": "customer.metadata.plan", "op": "eq", "value": "gold"}],
                "actions": [{"type": "notify", "channel": "finance"}],
            },
            {
                "id": "eu-past-due-14-30",
                "tenant_id": "saas-eu",
                "name": "Überfällig 14/30: finance + customer reminder",
                "enabled": True,
                "mode": "live",
                "trigger": {"type": "past_due", "thresholds_days": [14, 30],
                            "require_active_subscription": True,
                            "continuity": "negative_balance", "catch_up_days": 3},
                "conditions": [{"field": "balance.currency", "op": "eq", "value": "EUR"},
                               {"field": "customer.metadata.region", "op": "exists"}],
                "actions": [{"type": "notify", "channel": "finance"},
                            {"type": "message", "template_id": "eu-past-due-reminder",
                             "variables": {"locale": "de-DE",
                                           "support_email": "billing@saas-eu.example"}}],
            },
            {
                "id": "eu-vip-escalation",
                "tenant_id": "saas-eu",
                "name": "VIP accounts past due 30/60: account manager review (preview)",
                "enabled": True,
                "mode": "dry_run",
                "trigger": {"type": "past_due", "thresholds_days": [30, 60],
                            "require_active_subscription": False,
                            "continuity": "negative_balance", "catch_up_days": 5},
                "conditions": [{"field": "customer.tags", "op": "contains", "value": "vip"},
                               {"field": "balance.amount_minor", "op": "lt", "value": 0}],
                "actions": [{"type": "notify", "channel": "finance"}],
                "active_from": "2026-10-01",
            },
            {
                "id": "nz-past-due-7-21",
                "tenant_id": "studio-nz",
                "name": "Past due 7/21: gentle reminder, then finance",
                "enabled": True,
                "mode": "live",
                "trigger": {"type": "past_due", "thresholds_days": [7, 21],
                            "require_active_subscription": True,
                            "continuity": "negative_balance", "catch_up_days": 3},
                "conditions": [{"field": "customer.tags", "op": "not_contains", "value": "staff"},
                               {"field": "balance.currency", "op": "in", "value": ["NZD"]}],
                "actions": [{"type": "message", "template_id": "nz-gentle-reminder",
                             "variables": {"studio_name": "Studio NZ", "tone": "friendly"}},
                            {"type": "notify", "channel": "finance"}],
            },
        ],
    }


def normalization(t: dict) -> dict:
    """The tenant's metadata normalization rules (SPEC section 8.7): they turn every profile
    `messy` writes back into the one the generator made."""
    return {"rules": [
        {"type": "key_case", "case": "snake_case"},
        {"type": "rename_key", "from": ["plan_name", "tier"], "to": "plan"},
        {"type": "trim_values", "keys": ["plan", "region"]},
        {"type": "lowercase_values", "keys": ["plan", "region"]},
        {"type": "map_values", "key": "plan", "map": t["plan_synonyms"]},
        {"type": "allowed_values", "key": "plan", "values": [p[0] for p in t["plans"]],
         "otherwise": "unknown"},
    ]}


def messy(line: str) -> str:
    """A profile event as the tenants' systems send it: the plan under several keys
    (`Plan`, `plan_name`, `PlanName`, `tier`, ...), values in any case, padded, or named by
    a synonym; regions in capitals; camelCase keys. The same line comes out the same in every
    file (the choices are drawn from the event id), and the generator's own draws are left
    alone, so every other line is what it was."""
    event = json.loads(line)
    if event["type"] != "customer.updated":
        return line
    rng = random.Random(f"{SEED}:{event['event_id']}")
    tenant = next(t for t in TENANTS if t["tenant_id"] == event["tenant_id"])
    synonyms = {v: k for k, v in tenant["plan_synonyms"].items()}
    out = {}
    for key, value in event["customer"]["metadata"].items():
        if key == "plan":
            key = weighted(rng, [("plan", 40), ("Plan", 15), ("plan_name", 15),
                                 ("PlanName", 10), ("tier", 10), ("Plan Name", 10)])[0]
            value = weighted(rng, [(value, 45), (value.capitalize(), 20), (f" {value}", 8),
                                   (f"{value.upper()} ", 10),
                                   (synonyms.get(value, value), 17)])[0]
        elif key == "region":
            key = weighted(rng, [("region", 60), ("Region", 25), ("REGION", 15)])[0]
            value = weighted(rng, [(value, 70), (value.title(), 20), (f"{value} ", 10)])[0]
        elif key == tenant["extra_key"]:
            camel = "".join(w.capitalize() if i else w for i, w in enumerate(key.split("_")))
            key = weighted(rng, [(key, 60), (camel, 25), (key.replace("_", " ").title(), 15)])[0]
        out[key] = value
    event["customer"]["metadata"] = out
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


def past_due_spells(lines: list[str]) -> dict[tuple[str, str], list[tuple[datetime, datetime | None]]]:
    """Per (tenant, customer), the spells of a negative balance in occurred order: (start, end),
    end None while it still runs at the end of the data."""
    balances: dict[tuple[str, str], list[tuple[datetime, str, int]]] = {}
    for line in lines:
        e = json.loads(line)
        if e["type"] == "balance.changed":
            at = datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00"))
            balances.setdefault((e["tenant_id"], e["customer_id"]), []).append(
                (at, e["event_id"], e["balance"]["amount_minor"]))
    spells = {}
    for key, points in balances.items():
        points = sorted(set(points))
        out, start = [], None
        for at, _, amount in points:
            if amount < 0 and start is None:
                start = at
            elif amount >= 0 and start is not None:
                out.append((start, at))
                start = None
        if start is not None:
            out.append((start, None))
        spells[key] = out
    return spells


def playbook_events(lines: list[str]) -> list[str]:
    """Promises to pay (kept and broken) and disputes for long past-due customers of the two
    tenants the aging-ladder playbook runs for; deterministic, from the demo's own events."""
    spells = past_due_spells(lines)
    out: list[str] = []
    for tid in ("gym-chain", "saas-eu"):
        kept, long = [], []
        for (t, cid), runs in sorted(spells.items()):
            if t != tid:
                continue
            for start, end in runs:
                if end is not None and timedelta(days=20) <= end - start <= timedelta(days=60):
                    kept.append((cid, start, end))
                if end is None and timedelta(days=100) <= LAST_INSTANT - start:
                    long.append((cid, start))
        n = 0

        def add(cid: str, kind: str, at: datetime, payload: dict) -> None:
            nonlocal n
            n += 1
            key = "promise" if kind.startswith("promise") else "dispute"
            out.append(json.dumps({"event_id": f"{tid}-col-{n:04d}", "tenant_id": tid,
                                   "customer_id": cid, "type": kind, "occurred_at": rfc3339(at),
                                   key: payload}, separators=(",", ":")))

        # Kept: promised ten days into the spell to pay two days after the day they did.
        for cid, start, end in kept[:2]:
            add(cid, "promise_to_pay.created", start + timedelta(days=10, hours=3),
                {"until": rfc3339(end + timedelta(days=2)), "amount_minor": 5000})
        # Broken: promised on day 25 to pay by day 40, and never did: the 31-60 message waits
        # for the promise, then goes.
        for cid, start in long[:2]:
            add(cid, "promise_to_pay.created", start + timedelta(days=25, hours=3),
                {"until": rfc3339(start + timedelta(days=40))})
        # Disputed from day 55 to day 68: the 61-90 message waits for the close.
        for cid, start in long[2:4]:
            add(cid, "dispute.opened", start + timedelta(days=55, hours=2), {"id": f"dp-{cid}"})
            add(cid, "dispute.closed", start + timedelta(days=68, hours=2), {"id": f"dp-{cid}"})
    return out


# Decline codes of a spell's first failure, with (advice code, weight): SPEC section 8.1's
# classes, soft ones most often.
FIRST_FAILURES = [
    (("insufficient_funds", None), 40),
    (("do_not_honor", None), 12),
    (("generic_decline", None), 8),
    (("expired_card", None), 10),
    (("authentication_required", None), 5),
    (("call_issuer", None), 4),
    (("stolen_card", None), 4),
    (("lost_card", None), 3),
    (("insufficient_funds", "do_not_try_again"), 4),
    ((None, None), 4),
]


def dunning_events(lines: list[str]) -> list[str]:
    """The payment failures behind saas-eu's past-due spells, deterministic from the demo's own
    events: one invoice per spell, failed at the charge, failed again on the billing system's
    retries one and four days later while the spell runs, and paid (or, for every tenth,
    voided) when it ends."""
    rng = random.Random(SEED + 1)
    tid = "saas-eu"
    charged: dict[tuple[str, datetime], int] = {}
    for line in lines:
        e = json.loads(line)
        if e["tenant_id"] == tid and e["type"] == "balance.changed":
            at = datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00"))
            charged[(e["customer_id"], at)] = -e["balance"]["amount_minor"]
    out: list[tuple[datetime, str]] = []
    n = 0
    switched = False
    late_done = False

    def add(cid: str, kind: str, at: datetime, payload: dict, late: timedelta | None = None):
        nonlocal n
        n += 1
        key = "invoice" if kind == "invoice.voided" else "payment"
        obj = {"event_id": f"{tid}-pay-{n:05d}", "tenant_id": tid, "customer_id": cid,
               "type": kind, "occurred_at": rfc3339(at)}
        if late is not None:
            obj["received_at"] = rfc3339(at + late)
        obj[key] = payload
        out.append((at, json.dumps(obj, separators=(",", ":"))))

    for (t, cid), runs in sorted(past_due_spells(lines).items()):
        if t != tid:
            continue
        for start, end in runs:
            amount = charged.get((cid, start), 0)
            if amount <= 0 or start < datetime(2026, 8, 20, tzinfo=UTC):
                continue
            invoice = f"in-{cid}-{start:%Y%m}"
            code, advice = weighted(rng, FIRST_FAILURES)[0]
            failure = {"invoice_id": invoice, "amount_minor": amount, "currency": "EUR",
                       "attempt": 1}
            if code:
                failure["failure_code"] = code
            if advice:
                failure["advice_code"] = advice
            late = None
            if not late_done and code == "insufficient_funds" and advice is None:
                late, late_done = timedelta(days=2), True
            add(cid, "payment.failed", start + timedelta(minutes=10), failure, late)
            # The billing system's own retries (after the day's 07:00 run), while unpaid.
            for attempt, day in ((2, 1), (3, 4)):
                at = start + timedelta(days=day, hours=3)
                if end is not None and end <= at:
                    break
                again = dict(failure, attempt=attempt)
                if not switched and code == "insufficient_funds" and advice is None and attempt == 2:
                    # A "standard" invoice whose card is then reported stolen.
                    again["failure_code"], switched = "stolen_card", True
                add(cid, "payment.failed", at, again)
            if end is not None:
                if n % 10 == 0:
                    add(cid, "invoice.voided", end, {"id": invoice})
                else:
                    add(cid, "payment.succeeded", end,
                        {"invoice_id": invoice, "amount_minor": amount, "currency": "EUR"})
    out.sort()
    return [line for _, line in out]


CANCEL_REASONS = [("too_expensive", 4), ("not_using", 3), ("moving", 2), ("missing_features", 1)]
# What the member does after asking: the offer the playbook makes them is the one its
# segment gives (see cancellation-hold.json), so an accepted offer names it.
ANSWERS = [("accept", 4), ("withdraw", 1), ("confirm", 2), ("none", 4)]


def hold_events(lines: list[str]) -> list[str]:
    """Requests to cancel from gym-chain members whose subscription is active and who owe
    nothing, with their answers; deterministic from the demo's own events."""
    rng = random.Random(SEED + 2)
    tid = "gym-chain"
    tz = ZoneInfo(next(t["timezone"] for t in TENANTS if t["tenant_id"] == tid))
    subs: dict[str, tuple[str, str]] = {}  # customer -> (subscription, latest status)
    profiles: dict[str, dict] = {}
    troubled: set[str] = set()
    for line in sorted(lines, key=lambda x: json.loads(x)["occurred_at"]):
        e = json.loads(line)
        if e["tenant_id"] != tid:
            continue
        cid = e["customer_id"]
        if e["type"] == "subscription.updated":
            subs[cid] = (e["subscription"]["id"], e["subscription"]["status"])
            if e["subscription"]["status"] != "active":
                troubled.add(cid)
        elif e["type"] == "customer.updated":
            profiles[cid] = e["customer"]
    # Members who pay each charge within days are in good standing.
    for (t, cid), runs in past_due_spells(lines).items():
        if t == tid and any(end is None or end - start > timedelta(days=5) for start, end in runs):
            troubled.add(cid)
    members = sorted(c for c, (_, status) in subs.items()
                     if status == "active" and c not in troubled)
    chosen = rng.sample(members, min(36, len(members)))
    out: list[tuple[datetime, str]] = []
    n = 0

    def add(cid: str, kind: str, at: datetime, payload: dict, late: timedelta | None = None):
        nonlocal n
        n += 1
        key = "subscription" if kind == "subscription.updated" else "cancellation"
        obj = {"event_id": f"{tid}-cx-{n:05d}", "tenant_id": tid, "customer_id": cid,
               "type": kind, "occurred_at": rfc3339(at)}
        if late is not None:
            obj["received_at"] = rfc3339(at + late)
        obj[key] = payload
        out.append((at, json.dumps(obj, separators=(",", ":"))))

    def offer_of(cid: str, reason: str) -> str | None:
        p = profiles.get(cid, {})
        plan = p.get("metadata", {}).get("plan")
        created = datetime.fromisoformat(p.get("created_at", "2026-01-01T00:00:00+00:00")
                                         .replace("Z", "+00:00"))
        if "corporate" in p.get("tags", []):
            return None  # an assisted call, not an offer
        if plan in ("gold", "platinum") and created <= datetime(2025, 9, 1, tzinfo=UTC):
            return "pause-1-month"
        if reason == "too_expensive" and plan != "basic":
            return "downgrade-basic"
        return "skip-a-month"

    short_period = None
    for i, cid in enumerate(chosen):
        sub = subs[cid][0]
        day = date(2026, 9, 3) + timedelta(days=rng.randrange(0, 78))
        if short_period is None and i > 11 and offer_of(cid, "") == "pause-1-month":
            # Asks two days before the paid period ends: the hold ends with it, before the
            # reminder of day 3 (and the billing system reports its cancellation late).
            day, short_period = date(2026, 10, 30), cid
        # Members ask in the gym's opening hours: some before the 06:00 run, most after it.
        at = at_local(tz, day, rng.choice([5, 9, 12, 18, 21]), rng.randrange(60))
        reason = weighted(rng, CANCEL_REASONS)[0]
        # The paid period ends at the next billing run (00:30 local on the 1st).
        first = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
        period_end = at_local(tz, first, 0, 30)
        request = {"subscription_id": sub, "reason": reason, "effective": "period_end",
                   "period_end": rfc3339(period_end)}
        if i % 12 == 11:
            request["effective"] = "immediate"
            del request["period_end"]
            add(cid, "cancellation.requested", at, request)
            add(cid, "subscription.updated", at + timedelta(minutes=2),
                {"id": sub, "status": "canceled"})
            continue
        late = timedelta(days=1, hours=2) if i == 4 else None
        add(cid, "cancellation.requested", at, request, late)
        if i == 7:  # asks again while the hold runs: the same hold
            add(cid, "cancellation.requested", at + timedelta(days=2), request)
        answer = weighted(rng, ANSWERS)[0]
        offer = offer_of(cid, reason)
        when = at + timedelta(days=rng.randint(1, 5), hours=rng.randint(1, 8))
        until = min(period_end, at_local(tz, local_date(tz, at) + timedelta(days=7), 6, 0))
        if when >= until:
            answer = "none"
        if answer == "accept" and offer is not None:
            add(cid, "cancellation.withdrawn", when, {"subscription_id": sub, "offer_id": offer})
        elif answer in ("accept", "withdraw"):
            add(cid, "cancellation.withdrawn", when, {"subscription_id": sub})
        elif answer == "confirm":
            add(cid, "cancellation.confirmed", when, {"subscription_id": sub})
            add(cid, "subscription.updated", when + timedelta(minutes=2),
                {"id": sub, "status": "canceled"})
        else:
            # Nobody answered: the billing system cancels at the hold's end by itself.
            reported = timedelta(days=3) if cid == short_period else None
            add(cid, "subscription.updated", max(until, at) + timedelta(hours=1),
                {"id": sub, "status": "canceled"}, reported)
            if i == 2:  # back and subscribed again, then asks again: a new hold
                back = until + timedelta(days=3)
                add(cid, "subscription.updated", back, {"id": sub, "status": "active"})
                again = dict(request, period_end=rfc3339(period_end + timedelta(days=30)))
                add(cid, "cancellation.requested", back + timedelta(days=2), again)
    out.sort()
    return [line for _, line in out]


def main() -> None:
    rng = random.Random(SEED)
    rows: list[tuple] = []  # (occurred, tenant index, line)
    stats = {"customers": {}, "behaviours": {}}
    late_count = 0
    for ti, tenant in enumerate(TENANTS):
        tid = tenant["tenant_id"]
        stats["customers"][tid] = tenant["customers"]
        tenant_events = []
        for i in range(1, tenant["customers"] + 1):
            behaviour = weighted(rng, BEHAVIOURS)[0]
            stats["behaviours"][behaviour] = stats["behaviours"].get(behaviour, 0) + 1
            c = Customer(rng, tenant, i, behaviour)
            for ev in c.build():
                ev["customer_id"] = c.cid
                tenant_events.append(ev)
        # Event ids in occurred order, unique per tenant.
        tenant_events.sort(key=lambda e: (e["occurred"], e["customer_id"], e["type"]))
        for n, ev in enumerate(tenant_events, start=1):
            late_by = ev["late_by"]
            if late_by is None and rng.random() < 0.045:
                # Late data: mostly hours, sometimes days (a payment batch reported late).
                late_by = rng.choice([
                    timedelta(hours=rng.randint(1, 12)),
                    timedelta(hours=rng.randint(12, 72)),
                    timedelta(days=rng.randint(3, 9), hours=rng.randint(0, 23)),
                ])
            obj = {"event_id": f"{tid}-evt-{n:06d}", "tenant_id": tid,
                   "customer_id": ev["customer_id"], "type": ev["type"],
                   "occurred_at": rfc3339(ev["occurred"])}
            if late_by is not None:
                assert late_by >= timedelta(hours=1)
                obj["received_at"] = rfc3339(ev["occurred"] + late_by)
                late_count += 1
            elif rng.random() < 0.3:  # normal ingestion latency, a few seconds
                obj["received_at"] = rfc3339(ev["occurred"] + timedelta(seconds=rng.randint(1, 9)))
            key = {"balance.changed": "balance", "subscription.updated": "subscription",
                   "customer.updated": "customer"}[ev["type"]]
            obj[key] = ev["payload"]
            rows.append((ev["occurred"], ti, n, json.dumps(obj, separators=(",", ":"),
                                                           ensure_ascii=False)))

    # Arrival order does not matter: shuffle within blocks of 40 lines of the occurred order.
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    lines = [r[3] for r in rows]
    shuffled: list[str] = []
    for start in range(0, len(lines), 40):
        block = lines[start:start + 40]
        rng.shuffle(block)
        shuffled.extend(block)
    # A handful of exact duplicates (redelivered messages), a little after their original.
    duplicates = 8
    for _ in range(duplicates):
        src = rng.randrange(len(shuffled))
        dst = min(len(shuffled), src + rng.randint(1, 400))
        shuffled.insert(dst, shuffled[src])

    with open(EVENTS_FILE, "w", encoding="utf-8", newline="\n") as f:
        for line in shuffled:
            f.write(messy(line) + "\n")
    with open(AUTOMATIONS_FILE, "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(automations(), indent=2, ensure_ascii=False) + "\n")
    collections = playbook_events(shuffled)
    with open(PLAYBOOK_EVENTS_FILE, "w", encoding="utf-8", newline="\n") as f:
        for line in shuffled + collections:
            f.write(messy(line) + "\n")

    print(f"wrote {EVENTS_FILE.name}: {len(rows)} events + {duplicates} duplicate lines, "
          f"{late_count} late ({late_count * 100 / len(rows):.1f}%)")
    print("customers: " + ", ".join(f"{k} {v}" for k, v in stats["customers"].items()))
    print("behaviours: " + ", ".join(f"{k} {v}" for k, v in sorted(stats["behaviours"].items())))
    payments = dunning_events(shuffled)
    with open(DUNNING_EVENTS_FILE, "w", encoding="utf-8", newline="\n") as f:
        # saas-eu's own events: the playbook runs for it alone.
        for line in [x for x in shuffled if '"tenant_id":"saas-eu"' in x] + payments:
            f.write(messy(line) + "\n")
    cancellations = hold_events(shuffled)
    with open(HOLD_EVENTS_FILE, "w", encoding="utf-8", newline="\n") as f:
        # gym-chain's own events: the playbook runs for it alone.
        for line in [x for x in shuffled if '"tenant_id":"gym-chain"' in x] + cancellations:
            f.write(messy(line) + "\n")
    print(f"wrote {AUTOMATIONS_FILE.name}: {len(automations()['automations'])} automations")
    print(f"wrote {PLAYBOOK_EVENTS_FILE.name}: the demo's events and {len(collections)} "
          "promises and disputes")
    print(f"wrote {DUNNING_EVENTS_FILE.name}: the demo's events and {len(payments)} payment "
          "and invoice events")
    print(f"wrote {HOLD_EVENTS_FILE.name}: the demo's events and {len(cancellations)} "
          "cancellation and subscription events")


if __name__ == "__main__":
    main()
