package pipeline

import "time"

// SetIngestWindow widens how long after a commit webhooks count as arriving,
// so a test on a loaded machine does not depend on its goroutines being
// scheduled every 100 ms.
func (w *Wakeups) SetIngestWindow(d time.Duration) { w.window = d }
