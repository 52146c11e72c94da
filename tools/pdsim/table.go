package pdsim

import "iter"

// table holds one kind of object by id and remembers the order in which ids
// were first added: lists answer in that order, and replacing an object
// keeps its place. Callers hold Sim.mu.
type table[T any] struct {
	byID  map[string]*T
	order []string
}

func newTable[T any]() table[T] { return table[T]{byID: map[string]*T{}} }

// put adds v under id, or replaces the object with that id in its place.
func (t *table[T]) put(id string, v *T) {
	if _, ok := t.byID[id]; !ok {
		t.order = append(t.order, id)
	}
	t.byID[id] = v
}

// remove deletes the object with id; it reports whether there was one.
func (t *table[T]) remove(id string) bool {
	if _, ok := t.byID[id]; !ok {
		return false
	}
	delete(t.byID, id)
	for i, x := range t.order {
		if x == id {
			t.order = append(t.order[:i:i], t.order[i+1:]...)
			break
		}
	}
	return true
}

// all yields the objects in order.
func (t *table[T]) all() iter.Seq[*T] {
	return func(yield func(*T) bool) {
		for _, id := range t.order {
			if v := t.byID[id]; v != nil && !yield(v) {
				return
			}
		}
	}
}

// list returns, in order, the objects keep accepts.
func (t *table[T]) list(keep func(*T) bool) []*T {
	var out []*T
	for v := range t.all() {
		if keep(v) {
			out = append(out, v)
		}
	}
	return out
}

// orNewID returns id, or a new PagerDuty-style id when it is empty.
func orNewID(id string) string {
	if id == "" {
		return newPDID()
	}
	return id
}
