//! The operators' HTTP API (SPEC §6): one axum router, served by `lambda_http` behind API
//! Gateway (`main.rs`) and by `rulekit serve` on a local port. Every route reads the caller
//! from the verified identity ([`identity`]), answers errors as problem+json ([`problem`]),
//! and is described by `openapi.json` (served at `/v1/openapi.json`).

pub mod config;
pub mod identity;
pub mod problem;
pub mod request;
mod routes;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use identity::{Caller, ConsoleSignIn, IdentitySource};
use problem::Problem;
use shared::ports::{
    AdminStore, AutomationStore, CandidateSource, CustomerStore, DecisionStore, NormalizationStore,
    OutcomeStore, ReportRecords,
};
use std::sync::Arc;

/// What the API needs from the store.
pub trait ApiStore:
    AdminStore
    + AutomationStore
    + CustomerStore
    + CandidateSource
    + DecisionStore
    + NormalizationStore
    + OutcomeStore
    + ReportRecords
    + 'static
{
}

impl<T> ApiStore for T where
    T: AdminStore
        + AutomationStore
        + CustomerStore
        + CandidateSource
        + DecisionStore
        + NormalizationStore
        + OutcomeStore
        + ReportRecords
        + 'static
{
}

pub struct ApiState<S> {
    pub store: S,
    pub identity: IdentitySource,
    pub console: ConsoleSignIn,
}

type State<S> = Arc<ApiState<S>>;

impl<S: ApiStore> FromRequestParts<State<S>> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &State<S>) -> Result<Self, Problem> {
        state.identity.identify(parts)
    }
}

/// The OpenAPI 3.1 document of this API.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Every route, as (method, path template): the router serves exactly these, and the OpenAPI
/// document describes exactly these (a test holds both to it).
pub const ROUTES: &[(&str, &str)] = routes::ROUTES;

/// The router, over `store`, reading callers from `identity`; the console signs in as goes
/// with it ([`ConsoleSignIn::default_for`]).
pub fn router<S: ApiStore>(store: S, identity: IdentitySource) -> Router {
    let console = ConsoleSignIn::default_for(&identity);
    router_with_console(store, identity, console)
}

/// [`router`], with the console's sign-in named (the hosted UI of the deployment's pool).
pub fn router_with_console<S: ApiStore>(
    store: S,
    identity: IdentitySource,
    console: ConsoleSignIn,
) -> Router {
    routes::router(Arc::new(ApiState {
        store,
        identity,
        console,
    }))
}
