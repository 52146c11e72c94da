package rca

// Small helpers of the builtin analyzer: reading loose JSON, times and
// English text.

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

func object(raw []byte) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &m)
	}
	return m
}

func array(raw []byte) []json.RawMessage {
	var a []json.RawMessage
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &a)
	}
	return a
}

// str is a JSON string's value (or a number's text), trimmed.
func str(raw []byte) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// scalar is a string, number or boolean as text.
func scalar(raw []byte) string {
	if s := str(raw); s != "" {
		return s
	}
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return fmt.Sprint(b)
	}
	return ""
}

func number(raw []byte) (float64, bool) {
	var f float64
	if json.Unmarshal(raw, &f) == nil {
		return f, true
	}
	return 0, false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}
	}
	return t
}

func firstTime(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

func nonEmpty(xs []string) []string {
	var out []string
	for _, x := range xs {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return snippet(s)
}

// snippet collapses white space and cuts s to maxSnippet characters.
func snippet(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= maxSnippet {
		return s
	}
	r := []rune(s)
	return string(r[:maxSnippet-1]) + "…"
}

func quote(s string) string { return `"` + snippet(s) + `"` }

func clock(t time.Time) string { return t.UTC().Format("15:04 UTC") }

func atClock(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " at " + clock(t)
}

// before says how long before the trigger something happened.
func before(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "less than a minute before the trigger"
	case d < time.Hour:
		n := int(d / time.Minute)
		return fmt.Sprintf("%d %s before the trigger", n, plural(n, "minute"))
	}
	return "1 hour before the trigger"
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func listNames(names []string) string {
	if len(names) > 3 {
		return strings.Join(names[:3], ", ") + fmt.Sprintf(" and %d more", len(names)-3)
	}
	return strings.Join(names, ", ")
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
