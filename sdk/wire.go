package sdk

// Wire conversions of the plugin side: requests from protobuf, answers and
// errors to it. The host side's are in sdk/host.

import (
	"context"
	"errors"

	"github.com/aurora-hub/aurora-hub/sdk/internal/protocol"
	pb "github.com/aurora-hub/aurora-hub/sdk/proto/providerv1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"
)

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
	if _, known := protocol.Codes[string(e.Code)]; !known {
		// An unknown or empty code would cross as gRPC's OK: a success
		// with no answer.
		e = &Error{Code: CodeInternal, Message: e.Message, RetryAfter: e.RetryAfter}
	}
	st := status.New(protocol.Codes[string(e.Code)], e.Message)
	details := []protoadapt.MessageV1{&errdetails.ErrorInfo{Domain: protocol.ErrorDomain, Reason: string(e.Code)}}
	if e.RetryAfter > 0 {
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(e.RetryAfter)})
	}
	if withDetails, derr := st.WithDetails(details...); derr == nil {
		st = withDetails
	}
	return st.Err()
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

func identityToProto(i Identity) *pb.Identity {
	return &pb.Identity{
		UserId: i.UserID, UserEmail: i.UserEmail, UserName: i.UserName, UserRole: i.UserRole,
		AccountSubdomain: i.AccountSubdomain, AccountId: i.AccountID, AccountLevel: i.AccountLevel,
	}
}

func refToProto(r *Reference) *pb.Reference {
	if r == nil {
		return nil
	}
	return &pb.Reference{Id: r.ID, Type: r.Type, Summary: r.Summary, HtmlUrl: r.HTMLURL}
}

func refsToProto(rs []Reference) []*pb.Reference {
	out := make([]*pb.Reference, len(rs))
	for i := range rs {
		out[i] = refToProto(&rs[i])
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

func incidentToProto(in *Incident) *pb.Incident {
	if in == nil {
		return nil
	}
	return &pb.Incident{
		ExternalId: in.ExternalID, Number: in.Number, Title: in.Title, Status: in.Status,
		Urgency: in.Urgency, Priority: in.Priority, Service: refToProto(in.Service),
		EscalationPolicy: refToProto(in.EscalationPolicy), Assignees: refsToProto(in.Assignees),
		Teams: refsToProto(in.Teams), IncidentKey: in.IncidentKey, HtmlUrl: in.HTMLURL,
		CreatedAt: protocol.TimeToProto(in.CreatedAt), ResolveReason: in.ResolveReason,
		CustomFields: fieldsToProto(in.CustomFields), ChangedCustomFields: fieldsToProto(in.ChangedCustomFields),
		Partial: in.Partial, HasCustomFields: in.HasCustomFields,
	}
}

func eventsToProto(evs []Event) []*pb.Event {
	out := make([]*pb.Event, len(evs))
	for i, e := range evs {
		out[i] = &pb.Event{
			Id: e.ID, Type: e.Type, ResourceType: e.ResourceType, OccurredAt: protocol.TimeToProto(e.OccurredAt),
			Agent: refToProto(e.Agent), Incident: incidentToProto(e.Incident), Data: e.Data,
		}
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
		out[i] = &pb.Evidence{Kind: e.Kind, Id: e.ID, Summary: e.Summary, At: protocol.TimeToProto(e.At), Data: e.Data, DedupKey: e.DedupKey, Service: refToProto(e.Service)}
	}
	return out
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
