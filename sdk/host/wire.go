package host

// Wire conversions of the host side: requests to protobuf, answers and
// errors from it. The plugin side's are in package sdk.

import (
	"context"

	"github.com/aurora-hub/aurora-hub/sdk"
	"github.com/aurora-hub/aurora-hub/sdk/internal/protocol"
	pb "github.com/aurora-hub/aurora-hub/sdk/proto/providerv1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fromStatus decodes a gRPC error from a plugin into an *Error.
func fromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return &sdk.Error{Code: sdk.CodeUnavailable, Message: "plugin call failed", Err: err}
	}
	e := &sdk.Error{Message: st.Message(), Err: err}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			if d.GetDomain() == protocol.ErrorDomain {
				e.Code = knownCode(d.GetReason())
			}
		case *errdetails.RetryInfo:
			e.RetryAfter = d.GetRetryDelay().AsDuration()
		}
	}
	if e.Code == "" {
		switch st.Code() {
		case codes.Unimplemented:
			e.Code = sdk.CodeUnimplemented
		case codes.Canceled:
			return context.Canceled
		case codes.DeadlineExceeded:
			return context.DeadlineExceeded
		default:
			// No SDK detail: the plugin process or transport failed.
			e.Code = sdk.CodeUnavailable
		}
	}
	return e
}

func credsToProto(c sdk.Credentials) *pb.Credentials {
	return &pb.Credentials{Kind: c.Kind, Token: c.Token, Scope: c.Scope, Fields: c.Fields}
}

func manifestFromProto(m *pb.Manifest) sdk.Manifest {
	return sdk.Manifest{
		Name: m.GetName(), DisplayName: m.GetDisplayName(), Version: m.GetVersion(),
		ProtocolVersion: int(m.GetProtocolVersion()), Capabilities: m.GetCapabilities(),
		AuthKinds: m.GetAuthKinds(), WebhookEventTypes: m.GetWebhookEventTypes(),
		OAuthScopes: m.GetOauthScopes(), ConfigKeys: m.GetConfigKeys(),
		SetupInstructions: m.GetSetupInstructions(), WebhookSecretFormat: m.GetWebhookSecretFormat(),
		ConnectWithoutCredentials: m.GetConnectWithoutCredentials(),
	}
}

func identityFromProto(i *pb.Identity) sdk.Identity {
	return sdk.Identity{
		UserID: i.UserId, UserEmail: i.UserEmail, UserName: i.UserName, UserRole: i.UserRole,
		AccountSubdomain: i.GetAccountSubdomain(), AccountID: i.GetAccountId(), AccountLevel: i.GetAccountLevel(),
	}
}

func refFromProto(r *pb.Reference) *sdk.Reference {
	if r == nil {
		return nil
	}
	return &sdk.Reference{ID: r.GetId(), Type: r.GetType(), Summary: r.GetSummary(), HTMLURL: r.GetHtmlUrl()}
}

func refsFromProto(rs []*pb.Reference) []sdk.Reference {
	out := make([]sdk.Reference, 0, len(rs))
	for _, r := range rs {
		out = append(out, *refFromProto(r))
	}
	return out
}

func fieldsFromProto(fs []*pb.CustomField) []sdk.CustomField {
	out := make([]sdk.CustomField, len(fs))
	for i, f := range fs {
		out[i] = sdk.CustomField{ID: f.GetId(), Name: f.GetName(), Namespace: f.GetNamespace(), DataType: f.GetDataType(), FieldType: f.GetFieldType(), ValueJSON: f.GetValueJson()}
	}
	return out
}

func incidentFromProto(in *pb.Incident) *sdk.Incident {
	if in == nil {
		return nil
	}
	return &sdk.Incident{
		ExternalID: in.GetExternalId(), Number: in.GetNumber(), Title: in.GetTitle(), Status: in.GetStatus(),
		Urgency: in.GetUrgency(), Priority: in.GetPriority(), Service: refFromProto(in.GetService()),
		EscalationPolicy: refFromProto(in.GetEscalationPolicy()), Assignees: refsFromProto(in.GetAssignees()),
		Teams: refsFromProto(in.GetTeams()), IncidentKey: in.GetIncidentKey(), HTMLURL: in.GetHtmlUrl(),
		CreatedAt: protocol.TimeFromProto(in.GetCreatedAt()), ResolveReason: in.GetResolveReason(),
		CustomFields: fieldsFromProto(in.GetCustomFields()), ChangedCustomFields: fieldsFromProto(in.GetChangedCustomFields()),
		Partial: in.GetPartial(), HasCustomFields: in.GetHasCustomFields(),
	}
}

func eventsFromProto(evs []*pb.Event) []sdk.Event {
	out := make([]sdk.Event, len(evs))
	for i, e := range evs {
		out[i] = sdk.Event{
			ID: e.GetId(), Type: e.GetType(), ResourceType: e.GetResourceType(), OccurredAt: protocol.TimeFromProto(e.GetOccurredAt()),
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

func evidenceFromProto(es []*pb.Evidence) []sdk.Evidence {
	out := make([]sdk.Evidence, len(es))
	for i, e := range es {
		out[i] = sdk.Evidence{Kind: e.GetKind(), ID: e.GetId(), Summary: e.GetSummary(), At: protocol.TimeFromProto(e.GetAt()), Data: e.GetData(), DedupKey: e.GetDedupKey(), Service: refFromProto(e.GetService())}
	}
	return out
}

func webhookRequestToProto(r *sdk.WebhookRequest) *pb.HandleWebhookRequest {
	return &pb.HandleWebhookRequest{Body: r.Body, Headers: headersToProto(r.Header), Secrets: r.Secrets, AllowUnsigned: r.AllowUnsigned}
}

func webhookResultFromProto(res *pb.HandleWebhookResponse) *sdk.WebhookResult {
	return &sdk.WebhookResult{
		Verified: res.GetVerified(), DeliveryID: res.GetDeliveryId(), SubscriptionID: res.GetSubscriptionId(),
		Events: eventsFromProto(res.GetEvents()),
	}
}

func pluginErrorFromProto(pe *pb.PluginError) *sdk.Error {
	return &sdk.Error{Code: knownCode(pe.GetCode()), Message: pe.GetMessage(), RetryAfter: pe.GetRetryAfter().AsDuration()}
}

// knownCode is the SDK code a plugin sent, or CodeInternal for one the
// protocol does not define: the hub answers every code it receives.
func knownCode(c string) sdk.Code {
	if _, known := protocol.Codes[c]; !known {
		return sdk.CodeInternal
	}
	return sdk.Code(c)
}
