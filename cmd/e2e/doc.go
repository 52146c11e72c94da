// Package e2e holds end-to-end tests: they build the real aurora-hub and
// plugin binaries, start them against a PagerDuty simulator, and talk HTTP.
package e2e
