package procstat

import (
	"os"
	"os/exec"
	"testing"
)

func TestTreeCountsChildren(t *testing.T) {
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Skipf("no sleep command: %v", err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })

	own, kids := TreeRSS(os.Getpid())
	if own <= 0 || kids <= 0 {
		t.Errorf("TreeRSS = %d, %d; want both above 0 (this test and its sleep child)", own, kids)
	}
	if got := children(os.Getpid()); len(got) != 1 || got[0] != child.Process.Pid {
		t.Errorf("children = %v, want [%d]", got, child.Process.Pid)
	}
	if kids, ok := threadChildren(os.Getpid()); ok && (len(kids) != 1 || kids[0] != child.Process.Pid) {
		t.Errorf("threadChildren = %v, want [%d] (the scan of every process agrees: %v)", kids, child.Process.Pid, scanChildren(os.Getpid()))
	}
	for i := 0; CPUTime(os.Getpid()) == 0 && i < 1e9; i++ {
	}
	if cpu, _ := TreeCPU(os.Getpid()); cpu <= 0 {
		t.Errorf("TreeCPU = %v, want above 0", cpu)
	}
	if own, kids := TreeRSS(-1); own != 0 || kids != 0 {
		t.Errorf("TreeRSS of no process = %d, %d; want 0, 0", own, kids)
	}
}
