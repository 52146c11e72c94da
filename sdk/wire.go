package sdk

import (
	"context"
	"errors"
	"time"

	pb "github.com/aurora-hub/aurora-hub/sdk/proto/providerv1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// errorDomain tags the ErrorInfo detail that carries an SDK error code.
const errorDomain = "aurora.provider.v1"

var codeToGRPC = map[Code]codes.Code{
	CodeInvalid:          codes.InvalidArgument,
	CodeUnauthenticated:  codes.Unauthenticated,
	CodePermissionDenied: codes.PermissionDenied,
	CodeNotFound:         codes.NotFound,
	CodeRateLimited:      codes.ResourceExhausted,
	CodeUpstream:         codes.Unavailable,
	CodeUnimplemented:    codes.Unimplemented,
	CodeUnavailable:      codes.Unavailable,
	CodeInternal:         codes.Internal,
}

// toStatus encodes err for the wire. Only an *Error's code and message cross;
// anything else becomes an internal error whose text stays in the plugin.
func toStatus(err error) error {
	var e *Error
	if !errors.As(err, &e) {
		if errors.Is(err, context.Canceled) {
			return status.Error(codes.Canceled, "canceled")
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return status.Error(codes.DeadlineExceeded, "deadline exceeded")
		}
		e = &Error{Code: CodeInternal, Message: "internal plugin error"}
	}
	st := status.New(codeToGRPC[e.Code], e.Message)
	details := []protoadapt.MessageV1{&errdetails.ErrorInfo{Domain: errorDomain, Reason: string(e.Code)}}
	if e.RetryAfter > 0 {
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(e.RetryAfter)})
	}
	if withDetails, derr := st.WithDetails(details...); derr == nil {
		st = withDetails
	}
	return st.Err()
}

// fromStatus decodes a gRPC error from a plugin into an *Error.
func fromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return &Error{Code: CodeUnavailable, Message: "plugin call failed", Err: err}
	}
	e := &Error{Message: st.Message(), Err: err}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			if d.GetDomain() == errorDomain {
				e.Code = Code(d.GetReason())
			}
		case *errdetails.RetryInfo:
			e.RetryAfter = d.GetRetryDelay().AsDuration()
		}
	}
	if e.Code == "" {
		switch st.Code() {
		case codes.Unimplemented:
			e.Code = CodeUnimplemented
		case codes.Canceled:
			return context.Canceled
		case codes.DeadlineExceeded:
			return context.DeadlineExceeded
		default:
			// No SDK detail: the plugin process or transport failed.
			e.Code = CodeUnavailable
		}
	}
	return e
}

func credsToProto(c Credentials) *pb.Credentials {
	return &pb.Credentials{Kind: c.Kind, Token: c.Token, Scope: c.Scope, Fields: c.Fields}
}

func credsFromProto(c *pb.Credentials) Credentials {
	return Credentials{Kind: c.GetKind(), Token: c.GetToken(), Scope: c.GetScope(), Fields: c.GetFields()}
}

func manifestToProto(m Manifest) *pb.Manifest {
	return &pb.Manifest{
		Name: m.Name, DisplayName: m.DisplayName, Version: m.Version,
		ProtocolVersion: int32(m.ProtocolVersion), Capabilities: m.Capabilities,
		AuthKinds: m.AuthKinds, WebhookEventTypes: m.WebhookEventTypes,
		OauthScopes: m.OAuthScopes, ConfigKeys: m.ConfigKeys,
		SetupInstructions: m.SetupInstructions, WebhookSecretFormat: m.WebhookSecretFormat,
		ConnectWithoutCredentials: m.ConnectWithoutCredentials,
	}
}

func manifestFromProto(m *pb.Manifest) Manifest {
	return Manifest{
		Name: m.GetName(), DisplayName: m.GetDisplayName(), Version: m.GetVersion(),
		ProtocolVersion: int(m.GetProtocolVersion()), Capabilities: m.GetCapabilities(),
		AuthKinds: m.GetAuthKinds(), WebhookEventTypes: m.GetWebhookEventTypes(),
		OAuthScopes: m.GetOauthScopes(), ConfigKeys: m.GetConfigKeys(),
		SetupInstructions: m.GetSetupInstructions(), WebhookSecretFormat: m.GetWebhookSecretFormat(),
		ConnectWithoutCredentials: m.GetConnectWithoutCredentials(),
	}
}

func identityToProto(i Identity) *pb.Identity {
	return &pb.Identity{
		UserId: i.UserID, UserEmail: i.UserEmail, UserName: i.UserName, UserRole: i.UserRole,
		AccountSubdomain: i.AccountSubdomain, AccountId: i.AccountID, AccountLevel: i.AccountLevel,
	}
}

func identityFromProto(i *pb.Identity) Identity {
	return Identity{
		UserID: i.UserId, UserEmail: i.UserEmail, UserName: i.UserName, UserRole: i.UserRole,
		AccountSubdomain: i.GetAccountSubdomain(), AccountID: i.GetAccountId(), AccountLevel: i.GetAccountLevel(),
	}
}

func refToProto(r *Reference) *pb.Reference {
	if r == nil {
		return nil
	}
	return &pb.Reference{Id: r.ID, Type: r.Type, Summary: r.Summary, HtmlUrl: r.HTMLURL}
}

func refFromProto(r *pb.Reference) *Reference {
	if r == nil {
		return nil
	}
	return &Reference{ID: r.GetId(), Type: r.GetType(), Summary: r.GetSummary(), HTMLURL: r.GetHtmlUrl()}
}

func refsToProto(rs []Reference) []*pb.Reference {
	out := make([]*pb.Reference, len(rs))
	for i := range rs {
		out[i] = refToProto(&rs[i])
	}
	return out
}

func refsFromProto(rs []*pb.Reference) []Reference {
	out := make([]Reference, 0, len(rs))
	for _, r := range rs {
		out = append(out, *refFromProto(r))
	}
	return out
}

func fieldsToProto(fs []CustomField) []*pb.CustomField {
	out := make([]*pb.CustomField, len(fs))
	for i, f := range fs {
		out[i] = &pb.CustomField{Id: f.ID, Name: f.Name, Namespace: f.Namespace, DataType: f.DataType, FieldType: f.FieldType, ValueJson: f.ValueJSON}
	}
	return out
}

func fieldsFromProto(fs []*pb.CustomField) []CustomField {
	out := make([]CustomField, len(fs))
	for i, f := range fs {
		out[i] = CustomField{ID: f.GetId(), Name: f.GetName(), Namespace: f.GetNamespace(), DataType: f.GetDataType(), FieldType: f.GetFieldType(), ValueJSON: f.GetValueJson()}
	}
	return out
}

func timeToProto(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func timeFromProto(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

func incidentToProto(in *Incident) *pb.Incident {
	if in == nil {
		return nil
	}
	return &pb.Incident{
		ExternalId: in.ExternalID, Number: in.Number, Title: in.Title, Status: in.Status,
		Urgency: in.Urgency, Priority: in.Priority, Service: refToProto(in.Service),
		EscalationPolicy: refToProto(in.EscalationPolicy), Assignees: refsToProto(in.Assignees),
		Teams: refsToProto(in.Teams), IncidentKey: in.IncidentKey, HtmlUrl: in.HTMLURL,
		CreatedAt: timeToProto(in.CreatedAt), ResolveReason: in.ResolveReason,
		CustomFields: fieldsToProto(in.CustomFields), ChangedCustomFields: fieldsToProto(in.ChangedCustomFields),
		Partial: in.Partial, HasCustomFields: in.HasCustomFields,
	}
}

func incidentFromProto(in *pb.Incident) *Incident {
	if in == nil {
		return nil
	}
	return &Incident{
		ExternalID: in.GetExternalId(), Number: in.GetNumber(), Title: in.GetTitle(), Status: in.GetStatus(),
		Urgency: in.GetUrgency(), Priority: in.GetPriority(), Service: refFromProto(in.GetService()),
		EscalationPolicy: refFromProto(in.GetEscalationPolicy()), Assignees: refsFromProto(in.GetAssignees()),
		Teams: refsFromProto(in.GetTeams()), IncidentKey: in.GetIncidentKey(), HTMLURL: in.GetHtmlUrl(),
		CreatedAt: timeFromProto(in.GetCreatedAt()), ResolveReason: in.GetResolveReason(),
		CustomFields: fieldsFromProto(in.GetCustomFields()), ChangedCustomFields: fieldsFromProto(in.GetChangedCustomFields()),
		Partial: in.GetPartial(), HasCustomFields: in.GetHasCustomFields(),
	}
}

func eventsToProto(evs []Event) []*pb.Event {
	out := make([]*pb.Event, len(evs))
	for i, e := range evs {
		out[i] = &pb.Event{
			Id: e.ID, Type: e.Type, ResourceType: e.ResourceType, OccurredAt: timeToProto(e.OccurredAt),
			Agent: refToProto(e.Agent), Incident: incidentToProto(e.Incident), Data: e.Data,
		}
	}
	return out
}

func eventsFromProto(evs []*pb.Event) []Event {
	out := make([]Event, len(evs))
	for i, e := range evs {
		out[i] = Event{
			ID: e.GetId(), Type: e.GetType(), ResourceType: e.GetResourceType(), OccurredAt: timeFromProto(e.GetOccurredAt()),
			Agent: refFromProto(e.GetAgent()), Incident: incidentFromProto(e.GetIncident()), Data: e.GetData(),
		}
	}
	return out
}

func headersToProto(h map[string][]string) []*pb.Header {
	out := make([]*pb.Header, 0, len(h))
	for k, v := range h {
		out = append(out, &pb.Header{Name: k, Values: v})
	}
	return out
}

func headersFromProto(hs []*pb.Header) map[string][]string {
	out := make(map[string][]string, len(hs))
	for _, h := range hs {
		out[h.GetName()] = append(out[h.GetName()], h.GetValues()...)
	}
	return out
}

func evidenceToProto(es []Evidence) []*pb.Evidence {
	out := make([]*pb.Evidence, len(es))
	for i, e := range es {
		out[i] = &pb.Evidence{Kind: e.Kind, Id: e.ID, Summary: e.Summary, At: timeToProto(e.At), Data: e.Data, DedupKey: e.DedupKey, Service: refToProto(e.Service)}
	}
	return out
}

func evidenceFromProto(es []*pb.Evidence) []Evidence {
	out := make([]Evidence, len(es))
	for i, e := range es {
		out[i] = Evidence{Kind: e.GetKind(), ID: e.GetId(), Summary: e.GetSummary(), At: timeFromProto(e.GetAt()), Data: e.GetData(), DedupKey: e.GetDedupKey(), Service: refFromProto(e.GetService())}
	}
	return out
}

func webhookRequestToProto(r *WebhookRequest) *pb.HandleWebhookRequest {
	return &pb.HandleWebhookRequest{Body: r.Body, Headers: headersToProto(r.Header), Secrets: r.Secrets, AllowUnsigned: r.AllowUnsigned}
}

func webhookRequestFromProto(r *pb.HandleWebhookRequest) *WebhookRequest {
	return &WebhookRequest{
		Body: r.GetBody(), Header: headersFromProto(r.GetHeaders()),
		Secrets: r.GetSecrets(), AllowUnsigned: r.GetAllowUnsigned(),
	}
}

func webhookResultToProto(res *WebhookResult) *pb.HandleWebhookResponse {
	return &pb.HandleWebhookResponse{
		Verified: res.Verified, DeliveryId: res.DeliveryID, SubscriptionId: res.SubscriptionID,
		Events: eventsToProto(res.Events),
	}
}

func webhookResultFromProto(res *pb.HandleWebhookResponse) *WebhookResult {
	return &WebhookResult{
		Verified: res.GetVerified(), DeliveryID: res.GetDeliveryId(), SubscriptionID: res.GetSubscriptionId(),
		Events: eventsFromProto(res.GetEvents()),
	}
}

// pluginErrorToProto is toStatus for one answer of a batch.
func pluginErrorToProto(err error) *pb.PluginError {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Code: CodeInternal, Message: "internal plugin error"}
	}
	pe := &pb.PluginError{Code: string(e.Code), Message: e.Message}
	if e.RetryAfter > 0 {
		pe.RetryAfter = durationpb.New(e.RetryAfter)
	}
	return pe
}

func pluginErrorFromProto(pe *pb.PluginError) *Error {
	code := Code(pe.GetCode())
	if _, known := codeToGRPC[code]; !known {
		code = CodeInternal
	}
	return &Error{Code: code, Message: pe.GetMessage(), RetryAfter: pe.GetRetryAfter().AsDuration()}
}
