package alertmanager

import (
	"bytes"
	"encoding/json"
)

// flexString accepts a string, number or boolean; anything else is "".
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	*f = ""
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '"':
		var s string
		if json.Unmarshal(b, &s) == nil {
			*f = flexString(s)
		}
	case 't', 'f', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		*f = flexString(b)
	}
	return nil
}

// labelSet is a set of labels or annotations. Values that are numbers or
// booleans keep their JSON text; empty, null and nested values are dropped;
// anything but an object is an empty set.
type labelSet map[string]string

func (l *labelSet) UnmarshalJSON(b []byte) error {
	*l = nil
	var raw map[string]json.RawMessage
	if json.Unmarshal(b, &raw) != nil {
		return nil
	}
	set := make(labelSet, len(raw))
	for k, v := range raw {
		var s flexString
		_ = s.UnmarshalJSON(v)
		if s != "" {
			set[k] = string(s)
		}
	}
	*l = set
	return nil
}
