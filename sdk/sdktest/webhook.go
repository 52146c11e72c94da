package sdktest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/aurora-hub/aurora-hub/sdk"
)

// wrongSecret authenticates nothing.
const wrongSecret = "sdktest-wrong-secret-5f0c1a7e9b2d4c68"

func (s *suite) checkWebhook(r reporter) {
	h, ok := s.p.(sdk.WebhookHandler)
	if !ok {
		r.Skipf("the provider does not implement WebhookHandler")
		return
	}
	r.Run("Garbage", func(r reporter) { s.checkGarbage(r, h) })
	r.Run("Valid", func(r reporter) { s.checkValid(r, h) })
	r.Run("Tampered", func(r reporter) {
		s.checkRefused(r, h, "tampered", func(req *sdk.WebhookRequest) {
			if s.opts.Tamper != nil {
				s.opts.Tamper(req)
			} else {
				req.Body = append(req.Body, ' ')
			}
		})
	})
	r.Run("WrongSecret", func(r reporter) {
		s.checkRefused(r, h, "with a wrong secret", func(req *sdk.WebhookRequest) { req.Secrets = []string{wrongSecret} })
	})
	r.Run("NoSecret", func(r reporter) {
		s.checkRefused(r, h, "with no secret configured", func(req *sdk.WebhookRequest) { req.Secrets, req.AllowUnsigned = nil, false })
	})
	r.Run("Unsigned", func(r reporter) { s.checkUnsigned(r, h) })
}

// outcome is what one HandleWebhook call answered.
type outcome struct {
	res      *sdk.WebhookResult
	err      error
	panicked any
}

func (s *suite) handle(h sdk.WebhookHandler, req *sdk.WebhookRequest) (in, out outcome) {
	ctx, cancel := callCtx()
	defer cancel()
	in.res, in.err, in.panicked = safely(func() (*sdk.WebhookResult, error) { return h.HandleWebhook(ctx, cloneRequest(req)) })
	if in.panicked != nil {
		return in, out // over gRPC the panic would kill the test binary
	}
	out.res, out.err = s.c.HandleWebhook(ctx, cloneRequest(req))
	return in, out
}

// compare says how the answer over gRPC differs from the one in-process.
func compare(in, out outcome) string {
	switch {
	case in.err != nil:
		return sameError(in.err, out.err)
	case out.err != nil:
		hint := ""
		if strings.Contains(out.err.Error(), "UTF-8") {
			hint = " (strings crossing gRPC must be valid UTF-8)"
		}
		return fmt.Sprintf("accepted in-process, but over gRPC: %v%s", out.err, hint)
	case in.res == nil:
		return "" // reported by resultProblems
	}
	a, b := normalizeResult(in.res), normalizeResult(out.res)
	if !reflect.DeepEqual(a, b) {
		return fmt.Sprintf("the result changed crossing gRPC:\nin-process %+v\nover gRPC  %+v", a, b)
	}
	return ""
}

// rejectProblem says what is wrong with how a delivery was refused.
func rejectProblem(o outcome) string {
	if p := errorProblem(o.err); p != "" {
		return p
	}
	switch c := sdk.ErrorCode(o.err); c {
	case sdk.CodeInternal, sdk.CodeUnimplemented, sdk.CodeUnavailable:
		return fmt.Sprintf("refused with code %s (%v): a bad delivery is the sender's fault, not the plugin's", c, o.err)
	}
	if o.res != nil {
		return "returned both a result and an error"
	}
	return ""
}

// eventProblems checks what the hub needs of each event: an id (or the
// delivery's), a type, and JSON where the contract says JSON.
func eventProblems(res *sdk.WebhookResult, strictID bool) []string {
	var out []string
	for i, ev := range res.Events {
		add := func(format string, args ...any) {
			out = append(out, fmt.Sprintf("event %d: ", i)+fmt.Sprintf(format, args...))
		}
		if ev.ID == "" && (strictID || res.DeliveryID == "") {
			add("no ID")
		}
		if ev.Type == "" {
			add("no Type")
		}
		if len(ev.Data) > 0 && !json.Valid(ev.Data) {
			add("Data is not JSON: %.60q", ev.Data)
		}
		if in := ev.Incident; in != nil {
			if in.ExternalID == "" {
				add("an incident without ExternalID")
			}
			for _, f := range slices.Concat(in.CustomFields, in.ChangedCustomFields) {
				if len(f.ValueJSON) > 0 && !json.Valid(f.ValueJSON) {
					add("custom field %q: ValueJSON is not JSON: %.60q", f.Name, f.ValueJSON)
				}
			}
		}
	}
	return out
}

func (s *suite) checkGarbage(r reporter, h sdk.WebhookHandler) {
	lr := &limited{reporter: r, max: 25}
	defer lr.flush()
	var valid *sdk.WebhookRequest
	if s.opts.ValidWebhook != nil {
		valid = s.opts.ValidWebhook()
	}
	type mode struct {
		name  string
		build func(body []byte) *sdk.WebhookRequest
	}
	header := map[string][]string{}
	if valid != nil {
		header = valid.Header
	}
	modes := []mode{{"unsigned allowed", func(b []byte) *sdk.WebhookRequest {
		return &sdk.WebhookRequest{Body: b, Header: header, AllowUnsigned: true}
	}}}
	if valid != nil {
		modes = append(modes, mode{"with the valid delivery's headers and secrets", func(b []byte) *sdk.WebhookRequest {
			req := cloneRequest(valid)
			req.Body = b
			return req
		}})
	}
	var validBody []byte
	if valid != nil {
		validBody = valid.Body
	}
	for _, g := range garbage(validBody) {
		for _, m := range modes {
			req := m.build(g.body)
			in, out := s.handle(h, req)
			where := g.name + ", " + m.name
			if in.panicked != nil {
				lr.Errorf("%s: HandleWebhook panicked: %v", where, in.panicked)
				continue
			}
			if in.err != nil {
				if p := rejectProblem(in); p != "" {
					lr.Errorf("%s: %s", where, p)
				}
			} else if in.res == nil {
				lr.Errorf("%s: returned neither a result nor an error", where)
			} else {
				if req.AllowUnsigned && len(req.Secrets) == 0 && in.res.Verified {
					lr.Errorf("%s: Verified with no secret to verify against", where)
				}
				for _, p := range eventProblems(in.res, false) {
					lr.Errorf("%s: accepted, but %s", where, p)
				}
			}
			if p := compare(in, out); p != "" {
				lr.Errorf("%s: %s", where, p)
			}
		}
	}
}

func (s *suite) validRequest(r reporter) *sdk.WebhookRequest {
	if s.opts.ValidWebhook == nil {
		r.Skipf("no ConformanceOptions.ValidWebhook")
		return nil
	}
	req := s.opts.ValidWebhook()
	if req == nil {
		r.Errorf("ConformanceOptions.ValidWebhook returned nil")
	}
	return req
}

func (s *suite) checkValid(r reporter, h sdk.WebhookHandler) {
	req := s.validRequest(r)
	if req == nil {
		return
	}
	in, out := s.handle(h, req)
	switch {
	case in.panicked != nil:
		r.Errorf("HandleWebhook panicked: %v", in.panicked)
		return
	case in.err != nil:
		r.Errorf("the valid delivery was refused: %v", in.err)
		return
	case in.res == nil:
		r.Errorf("returned neither a result nor an error")
		return
	}
	if !in.res.Verified {
		r.Errorf("a delivery its secrets authenticate is not Verified")
	}
	if len(in.res.Events) == 0 {
		r.Errorf("the valid delivery parsed into no events")
	}
	for _, p := range eventProblems(in.res, true) {
		r.Errorf("%s", p)
	}
	if p := compare(in, out); p != "" {
		r.Errorf("%s", p)
	}
	again, _ := s.handle(h, req)
	if again.err != nil || again.res == nil || !slices.Equal(eventIDs(again.res), eventIDs(in.res)) {
		r.Errorf("redelivery gave %v, %v; want the same event IDs %v (the hub deduplicates on them)", eventIDs(again.res), again.err, eventIDs(in.res))
	}
}

func eventIDs(res *sdk.WebhookResult) []string {
	if res == nil {
		return nil
	}
	ids := make([]string, len(res.Events))
	for i, ev := range res.Events {
		ids[i] = ev.ID
	}
	return ids
}

// checkRefused checks that a valid delivery changed by how is refused as
// unauthenticated, in-process and over gRPC alike.
func (s *suite) checkRefused(r reporter, h sdk.WebhookHandler, what string, how func(*sdk.WebhookRequest)) {
	req := s.validRequest(r)
	if req == nil {
		return
	}
	if len(req.Secrets) == 0 {
		r.Skipf("the valid delivery has no Secrets")
		return
	}
	how(req)
	in, out := s.handle(h, req)
	switch {
	case in.panicked != nil:
		r.Errorf("delivery %s: HandleWebhook panicked: %v", what, in.panicked)
		return
	case in.err == nil || sdk.ErrorCode(in.err) != sdk.CodeUnauthenticated:
		r.Errorf("delivery %s: got %+v, %v; want code %s", what, in.res, in.err, sdk.CodeUnauthenticated)
		return
	}
	if p := rejectProblem(in); p != "" {
		r.Errorf("delivery %s: %s", what, p)
	}
	if p := compare(in, out); p != "" {
		r.Errorf("delivery %s: %s", what, p)
	}
}

// checkUnsigned: with no secret and AllowUnsigned, the valid delivery is
// accepted unverified and parses exactly as when it was verified.
func (s *suite) checkUnsigned(r reporter, h sdk.WebhookHandler) {
	req := s.validRequest(r)
	if req == nil {
		return
	}
	verified, _ := s.handle(h, req)
	req.Secrets, req.AllowUnsigned = nil, true
	in, out := s.handle(h, req)
	switch {
	case in.panicked != nil:
		r.Errorf("HandleWebhook panicked: %v", in.panicked)
		return
	case in.err != nil || in.res == nil:
		r.Errorf("with AllowUnsigned and no secret the valid delivery was refused: %v", in.err)
		return
	}
	if in.res.Verified {
		r.Errorf("Verified with no secret to verify against")
	}
	if verified.res != nil && !reflect.DeepEqual(normalizeResult(verified.res).Events, normalizeResult(in.res).Events) {
		r.Errorf("the events depend on how the delivery was authenticated:\nverified   %+v\nunverified %+v", verified.res.Events, in.res.Events)
	}
	if p := compare(in, out); p != "" {
		r.Errorf("%s", p)
	}
}

// normalizeResult puts a result in the form it has after crossing gRPC
// (empty slices nil, times in UTC), so the two can be compared.
func normalizeResult(res *sdk.WebhookResult) sdk.WebhookResult {
	if res == nil {
		return sdk.WebhookResult{}
	}
	out := *res
	out.Events = nil
	for _, ev := range res.Events {
		ev.OccurredAt = normTime(ev.OccurredAt)
		ev.Data = normBytes(ev.Data)
		ev.Agent = normRef(ev.Agent)
		if in := ev.Incident; in != nil {
			c := *in
			c.Service, c.EscalationPolicy = normRef(c.Service), normRef(c.EscalationPolicy)
			c.Assignees, c.Teams = normRefs(c.Assignees), normRefs(c.Teams)
			c.CreatedAt = normTime(c.CreatedAt)
			c.CustomFields, c.ChangedCustomFields = normFields(c.CustomFields), normFields(c.ChangedCustomFields)
			ev.Incident = &c
		}
		out.Events = append(out.Events, ev)
	}
	return out
}

func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func normBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func normRef(r *sdk.Reference) *sdk.Reference {
	if r == nil {
		return nil
	}
	c := *r
	return &c
}

func normRefs(rs []sdk.Reference) []sdk.Reference {
	if len(rs) == 0 {
		return nil
	}
	return rs
}

func normFields(fs []sdk.CustomField) []sdk.CustomField {
	if len(fs) == 0 {
		return nil
	}
	out := make([]sdk.CustomField, len(fs))
	for i, f := range fs {
		f.ValueJSON = normBytes(f.ValueJSON)
		out[i] = f
	}
	return out
}
