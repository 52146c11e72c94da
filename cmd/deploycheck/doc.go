// Package deploycheck tests the deployment files (Dockerfile,
// deploy/compose.yaml, deploy/systemd/aurora-hub.service) without Docker or
// systemd running: the Dockerfile's build commands are run as written, the
// compose file and the unit are parsed and their hub settings validated as
// the hub validates its configuration.
package deploycheck
