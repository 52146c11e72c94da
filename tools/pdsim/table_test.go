package pdsim

import (
	"slices"
	"testing"
)

func TestTable(t *testing.T) {
	type item struct{ name string }
	type op struct {
		put    string // id to put (with name = id + version)
		remove string
	}
	for _, tc := range []struct {
		name      string
		ops       []op
		wantOrder []string
		wantNames []string
		removed   []bool // result of each remove, in order
	}{
		{"empty", nil, nil, nil, nil},
		{"insertion order", []op{{put: "b"}, {put: "a"}, {put: "c"}}, []string{"b", "a", "c"}, []string{"b1", "a1", "c1"}, nil},
		{"replace keeps the place", []op{{put: "a"}, {put: "b"}, {put: "a"}}, []string{"a", "b"}, []string{"a2", "b1"}, nil},
		{"remove", []op{{put: "a"}, {put: "b"}, {put: "c"}, {remove: "b"}, {remove: "b"}}, []string{"a", "c"}, []string{"a1", "c1"}, []bool{true, false}},
		{"remove then put again goes last", []op{{put: "a"}, {put: "b"}, {remove: "a"}, {put: "a"}}, []string{"b", "a"}, []string{"b1", "a2"}, []bool{true}},
		{"remove unknown", []op{{put: "a"}, {remove: "x"}}, []string{"a"}, []string{"a1"}, []bool{false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := newTable[item]()
			versions := map[string]int{}
			var removed []bool
			for _, o := range tc.ops {
				if o.put != "" {
					versions[o.put]++
					tb.put(o.put, &item{name: o.put + string(rune('0'+versions[o.put]))})
				} else {
					removed = append(removed, tb.remove(o.remove))
				}
			}
			if !slices.Equal(tb.order, tc.wantOrder) {
				t.Errorf("order = %q, want %q", tb.order, tc.wantOrder)
			}
			var names []string
			for it := range tb.all() {
				names = append(names, it.name)
			}
			if !slices.Equal(names, tc.wantNames) {
				t.Errorf("all() = %q, want %q", names, tc.wantNames)
			}
			if !slices.Equal(removed, tc.removed) {
				t.Errorf("remove results = %v, want %v", removed, tc.removed)
			}
			if len(tb.byID) != len(tc.wantOrder) {
				t.Errorf("%d objects by id, %d in order", len(tb.byID), len(tc.wantOrder))
			}
		})
	}

	t.Run("list filters in order, all stops early", func(t *testing.T) {
		tb := newTable[item]()
		for _, id := range []string{"a", "bb", "c", "dd"} {
			tb.put(id, &item{name: id})
		}
		long := tb.list(func(it *item) bool { return len(it.name) == 2 })
		if len(long) != 2 || long[0].name != "bb" || long[1].name != "dd" {
			t.Errorf("list = %v", long)
		}
		if none := tb.list(func(*item) bool { return false }); none != nil {
			t.Errorf("list of nothing = %v, want nil", none)
		}
		var seen int
		for range tb.all() {
			seen++
			break
		}
		if seen != 1 {
			t.Errorf("all() went on after break: %d", seen)
		}
	})
}
