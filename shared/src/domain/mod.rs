//! The past-due domain: pure rules with no AWS, no I/O and no clock. "Now" always comes from
//! the caller, so the same code runs in Lambda, in the CLI's virtual clock and in tests.

pub mod aging;
pub mod automation;
pub mod calendar;
pub mod cancellation;
pub mod clock;
pub mod customer;
pub mod decision;
pub mod decline;
pub mod event;
pub mod fields;
pub mod ids;
pub mod invoice;
pub mod json;
pub mod kpi;
pub mod money;
pub mod normalize;
pub mod notice;
pub mod outcome;
pub mod quiet;
pub mod rollout;
pub mod rule;
pub mod step;

pub use automation::{Automation, AutomationsFile, Mode, TenantSettings};
pub use calendar::TenantCalendar;
pub use customer::{Continuity, CustomerState};
pub use decision::{Decision, Outcome, Settled, SkipReason};
pub use event::{Event, EventBody, EventKey};
pub use fields::{FieldError, FieldErrors};
pub use ids::{AutomationId, CustomerId, EventId, TenantId};
pub use money::{Currency, Money};
