module github.com/aurora-hub/aurora-hub/tools/pdsim

go 1.26.8

toolchain go1.26.10
