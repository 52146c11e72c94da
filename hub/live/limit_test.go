package live

import "testing"

func TestLimiter(t *testing.T) {
	l := NewLimiter(2)
	r1, ok1 := l.Acquire("user", "a")
	r2, ok2 := l.Acquire("user", "a")
	_, ok3 := l.Acquire("user", "a")
	rb, okb := l.Acquire("org", "a") // another tenant has slots of its own
	if !ok1 || !ok2 || ok3 || !okb {
		t.Fatalf("acquire = %v %v %v %v, want true true false true", ok1, ok2, ok3, okb)
	}
	r1()
	r1() // a second release gives nothing back twice
	if n := l.Streams("user", "a"); n != 1 {
		t.Fatalf("after release: %d streams", n)
	}
	r3, ok := l.Acquire("user", "a")
	if !ok {
		t.Fatal("a released slot was not free again")
	}
	if _, ok := l.Acquire("user", "a"); ok {
		t.Fatal("the cap was exceeded after a double release")
	}
	r2()
	r3()
	rb()
	if len(l.n) != 0 {
		t.Fatalf("counters left behind: %v", l.n)
	}
}
