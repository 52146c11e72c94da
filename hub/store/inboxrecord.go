package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
	// Stored records are decoded with encoding/json's API and behaviour on
	// JSON v2's decoder, which validates as it decodes rather than in a pass
	// of its own first (as the plugins decode webhooks; sdk/webhook):
	// BenchmarkInboxDecode 7.8 to 8.2 µs a full record against 15.8 to 16.0,
	// 1.7 to 1.8 µs a partial one against 2.65 to 2.9 (FuzzInboxDecodersAgree).
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// InboxVersion is the version of the event record the inbox writes. Raise
// it when a change to InboxRecord would be misread by the hub before it,
// and keep decoding every earlier version (see DecodeInboxEvent).
const InboxVersion = 1

// ErrInboxRecord means a stored inbox event cannot be read by this hub:
// its record is damaged, or a newer hub wrote it in a version this one does
// not know. Retrying does not help; the event is left as a dead letter.
var ErrInboxRecord = errors.New("unreadable inbox event record")

// InboxRecord is how the inbox stores an event (webhook_inbox.event): the
// hub's own, versioned form of an sdk.Event, so the SDK's types can change
// without breaking events received but not yet applied. EncodeInboxEvent
// and DecodeInboxEvent are the only conversions to and from sdk.Event.
type InboxRecord struct {
	Version      int             `json:"v"`
	ID           string          `json:"id"`
	Type         string          `json:"type,omitempty"`
	ResourceType string          `json:"resource_type,omitempty"`
	OccurredAt   time.Time       `json:"occurred_at,omitzero"`
	Agent        InboxRef        `json:"agent,omitzero"`
	Incident     *InboxIncident  `json:"incident,omitempty"`
	Data         json.RawMessage `json:"data,omitempty"`
}

// InboxIncident is sdk.Incident in an InboxRecord. Slices are omitted only
// when nil: an empty list and no list mean different things to the hub.
// References are values, omitted when zero (a reference with nothing set
// reads back as nil): decoding them allocates nothing.
type InboxIncident struct {
	ExternalID          string       `json:"external_id"`
	Number              int64        `json:"number,omitempty"`
	Title               string       `json:"title,omitempty"`
	Status              string       `json:"status,omitempty"`
	Urgency             string       `json:"urgency,omitempty"`
	Priority            string       `json:"priority,omitempty"`
	Service             InboxRef     `json:"service,omitzero"`
	EscalationPolicy    InboxRef     `json:"escalation_policy,omitzero"`
	Assignees           []InboxRef   `json:"assignees,omitzero"`
	Teams               []InboxRef   `json:"teams,omitzero"`
	IncidentKey         string       `json:"incident_key,omitempty"`
	HTMLURL             string       `json:"html_url,omitempty"`
	CreatedAt           time.Time    `json:"created_at,omitzero"`
	ResolveReason       string       `json:"resolve_reason,omitempty"`
	HasCustomFields     bool         `json:"has_custom_fields,omitempty"`
	CustomFields        []InboxField `json:"custom_fields,omitzero"`
	ChangedCustomFields []InboxField `json:"changed_custom_fields,omitzero"`
	Partial             bool         `json:"partial,omitempty"`
}

// InboxRef is sdk.Reference in an InboxRecord.
type InboxRef struct {
	ID      string `json:"id"`
	Type    string `json:"type,omitempty"`
	Summary string `json:"summary,omitempty"`
	HTMLURL string `json:"html_url,omitempty"`
}

// InboxField is sdk.CustomField in an InboxRecord; Value is the field's
// JSON value as bytes (base64 in the record), "null" when cleared.
type InboxField struct {
	ID        string `json:"id"`
	Name      string `json:"name,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	DataType  string `json:"data_type,omitempty"`
	FieldType string `json:"field_type,omitempty"`
	Value     []byte `json:"value"`
}

// EncodeInboxEvent returns ev as the inbox stores it: an InboxRecord of the
// current version, as JSON. Data that is not valid JSON is dropped (it
// could not be stored as JSON).
func EncodeInboxEvent(ev *sdk.Event) (string, error) {
	s := recordScratches.Get().(*recordScratch)
	defer s.release()
	s.fill(ev)
	return s.encode(&s.rec)
}

// fill makes s's record ev's. Its temporaries are on its own frame, gone
// before encode's calls, which are the deepest of a webhook's request.
func (s *recordScratch) fill(ev *sdk.Event) {
	s.rec = InboxRecord{
		Version: InboxVersion, ID: ev.ID, Type: ev.Type, ResourceType: ev.ResourceType, OccurredAt: ev.OccurredAt,
		Agent: refRecord(ev.Agent), Data: ev.Data,
	}
	if in := ev.Incident; in != nil {
		s.inc = InboxIncident{
			ExternalID: in.ExternalID, Number: in.Number, Title: in.Title, Status: in.Status, Urgency: in.Urgency,
			Priority: in.Priority, Service: refRecord(in.Service), EscalationPolicy: refRecord(in.EscalationPolicy),
			Assignees: convertSlice(in.Assignees, refValueRecord), Teams: convertSlice(in.Teams, refValueRecord),
			IncidentKey: in.IncidentKey, HTMLURL: in.HTMLURL, CreatedAt: in.CreatedAt, ResolveReason: in.ResolveReason,
			HasCustomFields: in.HasCustomFields, CustomFields: convertSlice(in.CustomFields, fieldRecord),
			ChangedCustomFields: convertSlice(in.ChangedCustomFields, fieldRecord), Partial: in.Partial,
		}
		s.rec.Incident = &s.inc
	}
}

// DecodeInboxEvent reads a stored event: an InboxRecord of any version up
// to InboxVersion, or the legacy form (json.Marshal of sdk.Event, without
// a version) that hubs before the record wrote. An error wraps
// ErrInboxRecord.
func DecodeInboxEvent(s []byte) (sdk.Event, error) {
	// The encoder writes "v" first; the legacy form starts with "ID".
	switch {
	case bytes.HasPrefix(s, []byte(`{"v":`)):
		return decodeRecord(s)
	case bytes.HasPrefix(s, []byte(`{"ID":`)):
		return decodeLegacy(s)
	}
	// Not as this hub's encoders write it: look for a version anywhere.
	var probe struct {
		V  *int    `json:"v"`
		ID *string `json:"ID"`
	}
	if err := jsonv1.Unmarshal(s, &probe); err != nil {
		return sdk.Event{}, fmt.Errorf("%w: %w", ErrInboxRecord, err)
	}
	switch {
	case probe.V != nil:
		return decodeRecord(s)
	case probe.ID != nil:
		return decodeLegacy(s)
	}
	return sdk.Event{}, fmt.Errorf("%w: neither a versioned record nor a legacy event", ErrInboxRecord)
}

func decodeRecord(s []byte) (sdk.Event, error) {
	var r InboxRecord
	if err := jsonv1.Unmarshal(s, &r); err != nil {
		return sdk.Event{}, fmt.Errorf("%w: %w", ErrInboxRecord, err)
	}
	if r.Version < 1 || r.Version > InboxVersion {
		return sdk.Event{}, fmt.Errorf("%w: version %d (this hub reads versions 1 to %d; was it written by a newer hub?)",
			ErrInboxRecord, r.Version, InboxVersion)
	}
	return r.event(), nil
}

// event is r as an sdk.Event.
func (r *InboxRecord) event() sdk.Event {
	ev := sdk.Event{ID: r.ID, Type: r.Type, ResourceType: r.ResourceType, OccurredAt: r.OccurredAt,
		Agent: sdkRef(r.Agent), Data: r.Data}
	if in := r.Incident; in != nil {
		ev.Incident = &sdk.Incident{
			ExternalID: in.ExternalID, Number: in.Number, Title: in.Title, Status: in.Status, Urgency: in.Urgency,
			Priority: in.Priority, Service: sdkRef(in.Service), EscalationPolicy: sdkRef(in.EscalationPolicy),
			Assignees: convertSlice(in.Assignees, sdkRefValue), Teams: convertSlice(in.Teams, sdkRefValue),
			IncidentKey: in.IncidentKey, HTMLURL: in.HTMLURL, CreatedAt: in.CreatedAt, ResolveReason: in.ResolveReason,
			HasCustomFields: in.HasCustomFields, CustomFields: convertSlice(in.CustomFields, sdkField),
			ChangedCustomFields: convertSlice(in.ChangedCustomFields, sdkField), Partial: in.Partial,
		}
	}
	return ev
}

// legacyEvent is the legacy inbox form, frozen: sdk.Event as it was when
// the inbox stored json.Marshal(sdk.Event) (Go field names as keys; the
// nested references and custom fields had tags of their own).
type legacyEvent struct {
	ID           string          `json:"ID"`
	Type         string          `json:"Type"`
	ResourceType string          `json:"ResourceType"`
	OccurredAt   time.Time       `json:"OccurredAt"`
	Agent        InboxRef        `json:"Agent"`
	Incident     *legacyIncident `json:"Incident"`
	Data         json.RawMessage `json:"Data"`
}

type legacyIncident struct {
	ExternalID          string       `json:"ExternalID"`
	Number              int64        `json:"Number"`
	Title               string       `json:"Title"`
	Status              string       `json:"Status"`
	Urgency             string       `json:"Urgency"`
	Priority            string       `json:"Priority"`
	Service             InboxRef     `json:"Service"`
	EscalationPolicy    InboxRef     `json:"EscalationPolicy"`
	Assignees           []InboxRef   `json:"Assignees"`
	Teams               []InboxRef   `json:"Teams"`
	IncidentKey         string       `json:"IncidentKey"`
	HTMLURL             string       `json:"HTMLURL"`
	CreatedAt           time.Time    `json:"CreatedAt"`
	ResolveReason       string       `json:"ResolveReason"`
	HasCustomFields     bool         `json:"HasCustomFields"`
	CustomFields        []InboxField `json:"CustomFields"`
	ChangedCustomFields []InboxField `json:"ChangedCustomFields"`
	Partial             bool         `json:"Partial"`
}

func decodeLegacy(s []byte) (sdk.Event, error) {
	var r legacyEvent
	if err := jsonv1.Unmarshal(s, &r); err != nil {
		return sdk.Event{}, fmt.Errorf("%w (legacy form): %w", ErrInboxRecord, err)
	}
	rec := InboxRecord{ID: r.ID, Type: r.Type, ResourceType: r.ResourceType, OccurredAt: r.OccurredAt, Agent: r.Agent,
		Incident: (*InboxIncident)(r.Incident), Data: r.Data}
	if string(rec.Data) == "null" {
		rec.Data = nil
	}
	return rec.event(), nil
}

// convertSlice maps in with f, keeping nil apart from empty.
func convertSlice[A, B any](in []A, f func(A) B) []B {
	if in == nil {
		return nil
	}
	out := make([]B, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

func refValueRecord(r sdk.Reference) InboxRef {
	return InboxRef{ID: r.ID, Type: r.Type, Summary: r.Summary, HTMLURL: r.HTMLURL}
}

func refRecord(r *sdk.Reference) InboxRef {
	if r == nil {
		return InboxRef{}
	}
	return refValueRecord(*r)
}

func sdkRefValue(r InboxRef) sdk.Reference {
	return sdk.Reference{ID: r.ID, Type: r.Type, Summary: r.Summary, HTMLURL: r.HTMLURL}
}

// sdkRef is nil for the zero reference (absent from the record).
func sdkRef(r InboxRef) *sdk.Reference {
	if r == (InboxRef{}) {
		return nil
	}
	v := sdkRefValue(r)
	return &v
}

func fieldRecord(f sdk.CustomField) InboxField {
	return InboxField{ID: f.ID, Name: f.Name, Namespace: f.Namespace, DataType: f.DataType, FieldType: f.FieldType, Value: f.ValueJSON}
}

func sdkField(f InboxField) sdk.CustomField {
	return sdk.CustomField{ID: f.ID, Name: f.Name, Namespace: f.Namespace, DataType: f.DataType, FieldType: f.FieldType, ValueJSON: f.Value}
}
