package sdktest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// input is one webhook body the suite sends, named for the report.
type input struct {
	name string
	body []byte
}

// garbage returns bodies no webhook handler should choke on: empty, random
// bytes, deep nesting, huge strings, invalid UTF-8, JSON of the wrong shape,
// and, when valid is a JSON document, copies of it with one value at a time
// replaced by a value of another type or removed. Bodies stay under the
// hub's 256 KB limit. The set is deterministic.
func garbage(valid []byte) []input {
	const big = 200 << 10
	in := []input{
		{"empty body", nil},
		{"whitespace", []byte(" \r\n\t ")},
		{"null", []byte("null")},
		{"number", []byte("4")},
		{"string", []byte(`"webhook"`)},
		{"true", []byte("true")},
		{"empty array", []byte("[]")},
		{"empty object", []byte("{}")},
		{"truncated object", []byte(`{"a":`)},
		{"trailing garbage", []byte(`{} x`)},
		{"two documents", []byte(`{}{}`)},
		{"NUL bytes", []byte("\x00\x00\x00")},
		{"byte order mark", []byte("\xef\xbb\xbf{}")},
		{"invalid UTF-8", []byte("\xff\xfe\xfd")},
		{"invalid UTF-8 in strings", []byte("{\"\xff\":\"\xc3\x28\",\"a\":[\"\xed\xa0\x80\"]}")},
		{"lone surrogate escapes", []byte(`{"a":"\ud800","b":"\udfff"}`)},
		{"huge number", []byte(`{"a":1e999999,"b":-1e-999999,"c":123456789012345678901234567890}`)},
		{"deep arrays", nest("[", "]", "", 50000)},
		{"deep objects", nest(`{"a":`, "}", "1", 30000)},
		{"unclosed deep arrays", bytes.Repeat([]byte("["), big)},
		{"huge string", []byte(`{"a":"` + strings.Repeat("x", big) + `"}`)},
		{"huge key", []byte(`{"` + strings.Repeat("k", big) + `":1}`)},
		{"many keys", manyKeys(10000)},
		// Provider-neutral shapes; shapeShifts derives the same from the
		// provider's own valid sample, with its own field names.
		{"wrong types", []byte(`{"a":[4],"b":{},"c":"x","d":7,"e":true,"f":[],"g":{},"h":null}`)},
		{"wrong element types", []byte(`{"a":[null,1,"x",[],{"b":[],"c":"a","d":5,"e":{}}],"f":{"g":[1,2]}}`)},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 7, 64, 4 << 10, big} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		in = append(in, input{fmt.Sprintf("%d random bytes", n), b})
	}
	if len(valid) > 0 {
		in = append(in,
			input{"valid body cut in half", bytes.Clone(valid[:len(valid)/2])},
			input{"valid body in an array", append(append([]byte("["), valid...), ']')},
			input{"valid body twice", append(bytes.Clone(valid), valid...)},
		)
		in = append(in, shapeShifts(valid)...)
		in = append(in, mutations(valid)...)
	}
	return in
}

// shapeShifts returns the valid sample with every member of every object
// given another JSON type at once, and with every array's elements
// replaced by one of each type: the shapes a provider's payload takes when
// its sender changes, in the provider's own field names.
func shapeShifts(valid []byte) []input {
	var types, elems any
	if json.Unmarshal(valid, &types) != nil || json.Unmarshal(valid, &elems) != nil {
		return nil
	}
	var shift func(v any, depth int) any
	shift = func(v any, depth int) any {
		if depth > maxDepth {
			return v
		}
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				switch c.(type) {
				case map[string]any:
					x[k] = []any{shift(c, depth+1)}
				case []any:
					x[k] = "x"
				case string:
					x[k] = map[string]any{}
				default:
					x[k] = []any{c}
				}
			}
		case []any:
			for i := range x {
				x[i] = shift(x[i], depth+1)
			}
		}
		return v
	}
	var each func(v any, depth int) any
	each = func(v any, depth int) any {
		if depth > maxDepth {
			return v
		}
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				x[k] = each(c, depth+1)
			}
		case []any:
			first := any(map[string]any{})
			if len(x) > 0 {
				first = shift(x[0], depth+1)
			}
			return []any{nil, 1, "x", []any{}, first}
		}
		return v
	}
	var out []input
	if b, err := json.Marshal(shift(types, 0)); err == nil {
		out = append(out, input{"every member of another type", b})
	}
	if b, err := json.Marshal(each(elems, 0)); err == nil {
		out = append(out, input{"array elements of every type", b})
	}
	return out
}

func nest(open, close, middle string, depth int) []byte {
	return []byte(strings.Repeat(open, depth) + middle + strings.Repeat(close, depth))
}

func manyKeys(n int) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%d":%d`, i, i)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// Mutations are bounded so the suite stays fast on big sample bodies.
const (
	maxPaths = 48
	maxDepth = 8
)

// replacements stand in for one value of the valid body at a time.
var replacements = []struct{ name, raw string }{
	{"null", "null"},
	{"a number", "-1.5e300"},
	{"a big integer", "123456789012345678901234567890"},
	{"a boolean", "true"},
	{"a string", `"x"`},
	{"an empty string", `""`},
	{"an array", `[1,"x",null]`},
	{"an object", `{"x":{"y":[]}}`},
	{"invalid UTF-8", "\"\xff\xfe\""},
	{"a 16 KB string", `"` + strings.Repeat("y", 16<<10) + `"`},
	{"nested arrays", string(nest("[", "]", "", 2000))},
}

const placeholder = "sdktest:placeholder:9c41"

// mutations returns copies of a JSON body with one value replaced or one
// object member removed, for the first maxPaths values in document order.
func mutations(valid []byte) []input {
	dec := json.NewDecoder(bytes.NewReader(valid))
	dec.UseNumber()
	var root any
	if dec.Decode(&root) != nil {
		return nil
	}
	switch root.(type) {
	case map[string]any, []any:
	default:
		return nil
	}
	var paths [][]any
	collect(root, nil, &paths)
	quoted, _ := json.Marshal(placeholder)
	var out []input
	for _, path := range paths {
		parent, key := resolve(root, path)
		old := get(parent, key)
		set(parent, key, placeholder)
		doc, err := json.Marshal(root)
		set(parent, key, old)
		if err != nil {
			continue
		}
		for _, r := range replacements {
			out = append(out, input{
				name: fmt.Sprintf("%s replaced by %s", pathString(path), r.name),
				body: bytes.Replace(doc, quoted, []byte(r.raw), 1),
			})
		}
		if m, ok := parent.(map[string]any); ok {
			k := key.(string)
			delete(m, k)
			doc, err := json.Marshal(root)
			m[k] = old
			if err == nil {
				out = append(out, input{name: pathString(path) + " removed", body: doc})
			}
		}
	}
	return out
}

// collect lists the paths of every value under v (not v itself), parents
// before children, up to maxPaths and maxDepth.
func collect(v any, prefix []any, out *[][]any) {
	if len(prefix) >= maxDepth {
		return
	}
	visit := func(k any, child any) {
		if len(*out) >= maxPaths {
			return
		}
		p := append(append([]any(nil), prefix...), k)
		*out = append(*out, p)
		collect(child, p, out)
	}
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			visit(k, x[k])
		}
	case []any:
		for i, c := range x {
			if i >= 3 {
				break // the first elements stand for the rest
			}
			visit(i, c)
		}
	}
}

func resolve(root any, path []any) (parent any, key any) {
	parent = root
	for _, k := range path[:len(path)-1] {
		parent = get(parent, k)
	}
	return parent, path[len(path)-1]
}

func get(container any, key any) any {
	switch c := container.(type) {
	case map[string]any:
		return c[key.(string)]
	case []any:
		return c[key.(int)]
	}
	return nil
}

func set(container any, key any, v any) {
	switch c := container.(type) {
	case map[string]any:
		c[key.(string)] = v
	case []any:
		c[key.(int)] = v
	}
}

func pathString(path []any) string {
	var b strings.Builder
	for _, k := range path {
		switch k := k.(type) {
		case string:
			b.WriteString("." + k)
		case int:
			b.WriteString("[" + strconv.Itoa(k) + "]")
		}
	}
	return b.String()
}
