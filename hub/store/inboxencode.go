package store

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// The inbox record is written once per accepted webhook, on the request's
// goroutine. encoding/json's reflection needs a deep stack there (its
// encoders nest per field, then time.Time's MarshalJSON): the 256
// connections of a storm then each kept a 32 KB stack, 8.5 MB in all,
// against 4.9 MB with the encoding elsewhere. This writer appends the
// record field by field instead, in the order and with the omissions
// of InboxRecord's tags, and escapes strings as encoding/json does;
// TestInboxRecordEncodesAsJSONWould holds it to json.Marshal's output.
// See docs/performance-history.md, round 16.

// recordScratch is what writing one record takes: the buffer it is
// appended to, and the record and incident EncodeInboxEvent fills in.
// Pooled, so the record and incident are off the request's stack too: on
// it they made 1.5 KB of the frame under which the writer's deepest call
// (time's RFC 3339 formatting) took a connection's goroutine past the 8 KB
// it starts with; the runtime then doubles the stack, and keeps it doubled
// while the connection stays busy (round 19).
type recordScratch struct {
	buf bytes.Buffer
	rec InboxRecord
	inc InboxIncident
}

var recordScratches = sync.Pool{New: func() any { return new(recordScratch) }}

// maxPooledRecord is the largest buffer kept for the next record: a rare
// large event's buffer goes to the collector.
const maxPooledRecord = 64 << 10

// release returns s to the pool without the event's strings and slices.
func (s *recordScratch) release() {
	s.rec, s.inc = InboxRecord{}, InboxIncident{}
	if s.buf.Cap() <= maxPooledRecord {
		recordScratches.Put(s)
	}
}

// encode returns r as json.Marshal(r) would, except that Data is compacted
// without escaping HTML characters (the same value), and Data that is not
// valid JSON is left out. It appends to s's buffer.
func (s *recordScratch) encode(r *InboxRecord) (string, error) {
	buf := &s.buf
	buf.Reset()
	b := buf.AvailableBuffer()
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(r.Version), 10)
	b = appendKeyString(b, "id", r.ID)
	b = appendOmitEmpty(b, "type", r.Type)
	b = appendOmitEmpty(b, "resource_type", r.ResourceType)
	var err error
	if b, err = appendOmitZeroTime(b, "occurred_at", r.OccurredAt); err != nil {
		return "", err
	}
	if r.Agent != (InboxRef{}) {
		b = appendRef(append(b, `,"agent":`...), r.Agent)
	}
	if in := r.Incident; in != nil {
		if b, err = appendIncident(append(b, `,"incident":`...), in); err != nil {
			return "", err
		}
	}
	if len(r.Data) > 0 {
		b = appendCompact(b, r.Data)
	}
	b = append(b, '}')
	buf.Write(b)
	return buf.String(), nil
}

// appendCompact appends `,"data":` and data without insignificant space,
// or nothing when data is not one valid JSON value. jsontext's Compact is
// json.Compact's (strings and numbers kept byte for byte, repeated names
// and invalid UTF-8 allowed) at about four times the speed: 0.57 against
// 2.5 µs for a PagerDuty incident's 631-byte data, on the path that
// accepts webhooks (BenchmarkInboxEncode: 2.65 to 2.7 µs a record against
// 4.5 to 5.7).
func appendCompact(b []byte, data []byte) []byte {
	const key = `,"data":`
	b = append(b, key...)
	start := len(b)
	b = append(b, data...)
	v := jsontext.Value(b[start:]) // compacted in place: never longer
	if v.Compact() != nil {
		return b[:start-len(key)]
	}
	return b[:start+len(v)]
}

func appendIncident(b []byte, in *InboxIncident) ([]byte, error) {
	b = append(b, `{"external_id":`...)
	b = appendString(b, in.ExternalID)
	if in.Number != 0 {
		b = strconv.AppendInt(append(b, `,"number":`...), in.Number, 10)
	}
	b = appendOmitEmpty(b, "title", in.Title)
	b = appendOmitEmpty(b, "status", in.Status)
	b = appendOmitEmpty(b, "urgency", in.Urgency)
	b = appendOmitEmpty(b, "priority", in.Priority)
	if in.Service != (InboxRef{}) {
		b = appendRef(append(b, `,"service":`...), in.Service)
	}
	if in.EscalationPolicy != (InboxRef{}) {
		b = appendRef(append(b, `,"escalation_policy":`...), in.EscalationPolicy)
	}
	b = appendList(b, "assignees", in.Assignees, appendRef)
	b = appendList(b, "teams", in.Teams, appendRef)
	b = appendOmitEmpty(b, "incident_key", in.IncidentKey)
	b = appendOmitEmpty(b, "html_url", in.HTMLURL)
	var err error
	if b, err = appendOmitZeroTime(b, "created_at", in.CreatedAt); err != nil {
		return nil, err
	}
	b = appendOmitEmpty(b, "resolve_reason", in.ResolveReason)
	if in.HasCustomFields {
		b = append(b, `,"has_custom_fields":true`...)
	}
	b = appendList(b, "custom_fields", in.CustomFields, appendField)
	b = appendList(b, "changed_custom_fields", in.ChangedCustomFields, appendField)
	if in.Partial {
		b = append(b, `,"partial":true`...)
	}
	return append(b, '}'), nil
}

func appendRef(b []byte, r InboxRef) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, r.ID)
	b = appendOmitEmpty(b, "type", r.Type)
	b = appendOmitEmpty(b, "summary", r.Summary)
	b = appendOmitEmpty(b, "html_url", r.HTMLURL)
	return append(b, '}')
}

// appendList writes items under key unless the list is nil (omitzero):
// an empty list is [].
func appendList[T any](b []byte, key string, items []T, appendItem func([]byte, T) []byte) []byte {
	if items == nil {
		return b
	}
	b = append(appendKey(b, key), '[')
	for i, item := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendItem(b, item)
	}
	return append(b, ']')
}

func appendField(b []byte, f InboxField) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, f.ID)
	b = appendOmitEmpty(b, "name", f.Name)
	b = appendOmitEmpty(b, "namespace", f.Namespace)
	b = appendOmitEmpty(b, "data_type", f.DataType)
	b = appendOmitEmpty(b, "field_type", f.FieldType)
	b = append(b, `,"value":`...)
	if f.Value == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, f.Value)
		b = append(b, '"')
	}
	return append(b, '}')
}

// appendKey writes ,"key": (every key but a record's first).
func appendKey(b []byte, key string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

func appendKeyString(b []byte, key, s string) []byte {
	return appendString(appendKey(b, key), s)
}

func appendOmitEmpty(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return appendKeyString(b, key, s)
}

// appendOmitZeroTime writes t as time.Time's MarshalJSON does (RFC 3339
// with nanoseconds; an error for a year outside 0 to 9999).
func appendOmitZeroTime(b []byte, key string, t time.Time) ([]byte, error) {
	if t.IsZero() {
		return b, nil
	}
	b = append(appendKey(b, key), '"')
	b, err := t.AppendText(b)
	if err != nil {
		return nil, fmt.Errorf("encoding event: %s: %w", key, err)
	}
	return append(b, '"'), nil
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string the way json.Marshal does: the
// HTML characters <, > and & and the separators U+2028 and U+2029 as
// \u escapes, invalid UTF-8 as U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
