// Package pdsim is an in-memory PagerDuty simulator for tests and demos.
//
// A *Sim is an http.Handler serving PagerDuty's REST API v2, the OAuth 2.0
// identity endpoints (/oauth/authorize, /oauth/token) and sending Generic
// Webhooks V3. It needs nothing at run time but the standard library.
//
//	sim := pdsim.New(pdsim.Options{Subdomain: "acme"})
//	ts := httptest.NewServer(sim)
//	sim.SetBaseURL(ts.URL)
//	sim.Seed() // or AddUser, AddAPIKey, AddService, AddIncident, ...
//
// # Seeding
//
// AddUser, AddAPIKey (UserID "" = account-level key, ReadOnly = GET only),
// AddTeam, AddService, AddEscalationPolicy, AddPriority, AddIncident,
// AddAlert, AddLogEntry, AddChangeEvent, AddServiceDependency,
// SetCustomFieldValues, SetRelatedIncidents, SetPastIncidents, SetAbilities,
// AddWebhookSubscription, AddOAuthApp. Seed adds the demo account described
// by the Demo* constants.
//
// # REST API
//
// Routes lists the operations served (users, teams, services, change
// events, service dependencies, escalation policies, priorities, abilities,
// incidents with alerts, log entries, notes, custom field values, related
// and past incidents, webhook subscriptions). Requests are handled in this
// order: fault injection, authentication (401 code 2006), per-token rate
// limit (429 code 2020 with ratelimit-* headers), write checks for
// read-only keys and read-only roles (403 code 2010), routing (404 code
// 2100), OAuth scope (403), then validation (400 code 2001; nothing is
// changed on error). Lists take limit (default 25, max 100), offset and
// total; offset+limit above 10000 answers 400. GET /users/me with an
// account-level credential answers 400 with a plain-string "error".
// Writes with account-level credentials need a From header with a user's
// email. Related and past incidents need the AbilityRelatedIncidents and
// AbilityPastIncidents abilities (else Options.MissingAbilityStatus, code
// 2014). Requests returns every request received, with the answer status.
//
// # Faults
//
// InjectFault makes the next matching requests answer a fixed status,
// headers and body (any bytes: 429 without headers, HTML 401s, odd error
// envelopes, slow answers with Delay); ClearFaults removes them.
//
// # Webhooks
//
// Incident changes made through the API (POST/PUT /incidents, notes,
// custom field values) and POST /webhook_subscriptions/{id}/ping queue V3
// webhooks to matching subscriptions, delivered in order per subscription
// in the background (WaitWebhooks waits for them). EmitIncidentEvent,
// EmitEvent, DeliverEvent and Ping deliver synchronously. Each POST carries
// one event, X-PagerDuty-Signature (one v1= HMAC-SHA256 per secret, see
// SetWebhookSecrets and RotateWebhookSecret), X-Webhook-Id (kept on
// retries), X-Webhook-Subscription and User-Agent PagerDuty-Webhook/V3.0.
// Timeouts, connection errors, 5xx and 429 are retried
// (Options.WebhookMaxAttempts, backoff from Options.WebhookRetryDelay);
// other answers are dropped, and 3 drops in a row disable the subscription
// for 24 h until POST .../enable. Deliveries records every webhook and its
// attempts. The pure helpers NewEvent, IncidentEvent,
// CustomFieldValuesEvent, ServiceEvent, NoteEvent, PingEvent, Sign,
// SignatureHeader, VerifySignature, NewWebhookRequest, V1Body and V2Body
// build webhooks without a Sim.
//
// # OAuth
//
// AddOAuthApp registers a client. GET /oauth/authorize redirects (302) to
// the redirect_uri with code and state, or error=access_denied after
// SetOAuthDecision(Deny); SetOAuthUser picks the approving user and
// SetOAuthGrantedScope overrides the granted scope. Codes are single use
// and live AuthCodeTTL. POST /oauth/token supports authorization_code
// (client secret, redirect_uri and PKCE S256 checked), refresh_token
// (rotating: a used refresh token answers invalid_grant) and
// client_credentials (account-level token). Bearer tokens work on the REST
// API until they expire (Options.AccessTokenTTL; 401 after) and need the
// route's scope (403 otherwise; classic "read"/"write" scopes are
// understood). TokenRequests counts token calls; RevokeRefreshTokens,
// ExpireAccessTokens and IssueAccessToken help tests.
//
// Options.Now sets the sim clock, used for timestamps, rate-limit windows,
// code and token expiry.
package pdsim
